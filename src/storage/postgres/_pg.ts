/**
 * node-postgres, with its types. The package ships none; @types/pg is pinned
 * to the same version, so the types describe the code that runs. Every other
 * module (tests included) imports pg from here.
 *
 * @module
 */
// @ts-types="npm:@types/pg@8.23.1"
import pg from "pg";

export default pg;
export type { ClientConfig, DatabaseError, Notification, PoolClient, QueryResult } from "pg";
