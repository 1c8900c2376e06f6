/** The data tools: store, retrieve, delete and list keys and scopes. */
import { SCOPES } from "../../core/guidance.ts";
import {
  deleteData,
  deleteScope,
  listKeys,
  listScopes,
  retrieveData,
  storeData,
} from "../../core/data.ts";
import { defineTool, DESTROY, READ, WRITE } from "../tool.ts";
import { ifVersion, key, scope, ttlSeconds } from "./_shared.ts";

/** store_data. */
export const storeDataTool = defineTool({
  name: "store_data",
  title: "Store data",
  description:
    `Store any JSON value under scope + key; every write gets a new version. if_version makes it compare-and-set: 0 succeeds only if the key is absent (claim work: exactly one claimer wins), n only if the version is still n; VERSION_CONFLICT gives current_version: re-read and retry. ttl_seconds makes the key expire. ${SCOPES}`,
  params: {
    scope: { ...scope, required: true },
    key: { ...key, required: true },
    value: { type: "json", required: true, description: "any JSON value" },
    if_version: ifVersion,
    ttl_seconds: ttlSeconds,
    with_lease: {
      type: "boolean",
      description: "the key lives as long as your session (gone when you sign off or crash)",
    },
  },
  annotations: WRITE,
  run: (a, { ctx, binding }) =>
    storeData(ctx, binding, {
      scope: a.scope,
      key: a.key,
      value: a.value,
      ifVersion: a.if_version,
      ttlSeconds: a.ttl_seconds,
      withLease: a.with_lease,
    }),
});

/** retrieve_data. */
export const retrieveDataTool = defineTool({
  name: "retrieve_data",
  title: "Retrieve data",
  description:
    "Read scope + key: value, version, updated_at, updated_by (the session that wrote it). Absent or expired: found false, version 0 (the if_version that claims it).",
  params: { scope: { ...scope, required: true }, key: { ...key, required: true } },
  annotations: READ,
  run: (a, { ctx, binding }) => retrieveData(ctx, binding, a),
});

/** delete_data. */
export const deleteDataTool = defineTool({
  name: "delete_data",
  title: "Delete a key",
  description:
    "Delete one key (deleted: false when absent). Pass if_version to delete only the version you read, e.g. to release a claim only while it is still yours.",
  params: {
    scope: { ...scope, required: true },
    key: { ...key, required: true },
    if_version: ifVersion,
  },
  annotations: DESTROY,
  run: (a, { ctx, binding }) =>
    deleteData(ctx, binding, { scope: a.scope, key: a.key, ifVersion: a.if_version }),
});

/** delete_scope. */
export const deleteScopeTool = defineTool({
  name: "delete_scope",
  title: "Delete a scope",
  description:
    "Delete a whole scope and every key in it (deleted: false when it held nothing). Others may be reading it: prefer delete_data for single keys.",
  params: { scope: { ...scope, required: true } },
  annotations: DESTROY,
  run: (a, { ctx, binding }) => deleteScope(ctx, binding, a),
});

/** list_keys. */
export const listKeysTool = defineTool({
  name: "list_keys",
  title: "List keys",
  description: "List a scope's live keys, sorted.",
  params: { scope: { ...scope, required: true } },
  annotations: READ,
  run: (a, { ctx, binding }) => listKeys(ctx, binding, a),
});

/** list_scopes. */
export const listScopesTool = defineTool({
  name: "list_scopes",
  title: "List scopes",
  description:
    'List the project\'s scopes that hold data, on every machine, in the relative form the other tools take. pattern is an fnmatch glob over those names ("*" also crosses ":" and "/", "?", "[abc]", "[!abc]"), e.g. "session:*".',
  params: { pattern: { type: "string", max: 512 } },
  annotations: READ,
  run: (a, { ctx, binding }) => listScopes(ctx, binding, a),
});
