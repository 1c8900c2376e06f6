/**
 * The page's script, served as /app.js. It listens to /events (server-sent
 * events; the browser reconnects by itself, and when the server refuses a
 * reconnect it retries with back-off), renders each snapshot section by
 * section, skipping sections whose data did not change, and counts lease
 * time down every second against the store's clock. Everything is built
 * with DOM calls and textContent: no HTML is ever parsed from data.
 *
 * Kept as plain JavaScript in a string (no build step, and it is embedded
 * in a compiled binary like any module). It must not contain a backtick or
 * a dollar sign followed by a brace; tests/dashboard_server_test.ts parses it.
 *
 * @module
 */

/** The dashboard's client script. */
export const PAGE_SCRIPT = String.raw`"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STATUSES = [
    { key: "in_progress", label: "In progress", empty: "Nobody is working on a task" },
    { key: "ready", label: "Ready", empty: "No task is ready" },
    { key: "blocked", label: "Blocked", empty: "Nothing waits on a dependency" },
    { key: "failed", label: "Failed", empty: "" },
    { key: "done", label: "Done", empty: "Nothing done yet" },
  ];
  const store = {
    get(key) { try { return localStorage.getItem(key); } catch { return null; } },
    set(key, value) { try { localStorage.setItem(key, value); } catch { /* private mode */ } },
  };
  const state = {
    snap: null,
    offset: 0,
    keys: {},
    source: null,
    retry: 0,
    project: new URLSearchParams(location.search).get("project"),
    projects: [],
    doneOpen: store.get("csc.doneOpen") === "1",
    received: 0,
  };

  // ---- DOM helpers -------------------------------------------------------
  function setAttrs(el, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = String(v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  function append(el, kids) {
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false || kid === "") continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
  }
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, kids);
    return el;
  }
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    append(el, kids);
    return el;
  }
  function ring(cx, cy, r) {
    return "M" + (cx - r) + " " + cy + "a" + r + " " + r + " 0 1 0 " + 2 * r + " 0a" + r + " " +
      r + " 0 1 0 " + -2 * r + " 0";
  }
  const ICONS = {
    branch: ["M6 3v12", ring(18, 6, 3), ring(6, 18, 3), "M18 9a9 9 0 0 1-9 9"],
    machine: ["M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z", "M8 21h8", "M12 17v4"],
    lock: ["M5 11h14a2 2 0 0 1 2 2v7a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2z", "M7 11V7a5 5 0 0 1 10 0v4"],
    eye: ["M1 12s4-8 11-8 11 8 11 8-4 8-11 8-11-8-11-8z", ring(12, 12, 3)],
    mail: ["M4 4h16a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z", "M22 6l-10 7L2 6"],
    handoff: ["M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4", "M16 17l5-5-5-5", "M21 12H9"],
    play: ["M6 3l14 9-14 9z"],
    link: ["M10 13a5 5 0 0 0 7.5.5l3-3a5 5 0 0 0-7-7l-1.7 1.7", "M14 11a5 5 0 0 0-7.5-.5l-3 3a5 5 0 0 0 7 7l1.7-1.7"],
    retry: ["M23 4v6h-6", "M20.5 15a9 9 0 1 1-2.1-9.4L23 10"],
    alert: ["M12 9v4", "M12 17h.01", "M10.3 3.9L1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z"],
    folder: ["M22 19a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h5l2 3h9a2 2 0 0 1 2 2z"],
  };
  function icon(name) {
    return s("svg", { class: "icon", viewBox: "0 0 24 24", "aria-hidden": "true" },
      ICONS[name].map((d) => s("path", { d })));
  }
  function empty(title, hint) {
    return h("div", { class: "empty" }, h("div", { class: "empty-title", text: title }),
      hint ? h("div", { class: "empty-hint", text: hint }) : null);
  }
  function clip(text, n) {
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }
  function basename(path) {
    const parts = String(path || "").split(/[\\/]/).filter(Boolean);
    return parts.length ? parts[parts.length - 1] : String(path || "");
  }
  function cssId(id) {
    return window.CSS && CSS.escape ? CSS.escape(id) : id.replace(/["\\]/g, "\\$&");
  }

  // ---- Time --------------------------------------------------------------
  const serverNow = () => Date.now() + state.offset;
  function span(ms) {
    const sec = Math.max(0, Math.round(ms / 1000));
    if (sec < 60) return sec + "s";
    const min = Math.floor(sec / 60);
    if (min < 60) return min + "m" + (min < 10 && sec % 60 ? " " + (sec % 60) + "s" : "");
    const hr = Math.floor(min / 60);
    if (hr < 24) return hr + "h" + (min % 60 ? " " + (min % 60) + "m" : "");
    return Math.floor(hr / 24) + "d";
  }
  const pad = (n) => (n < 10 ? "0" : "") + n;
  function clock(iso) {
    const d = new Date(iso);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function tick() {
    const now = serverNow();
    for (const el of document.querySelectorAll("[data-expires]")) {
      const left = Date.parse(el.dataset.expires) - now;
      const ttl = Number(el.dataset.ttl || 0) * 1000;
      const low = ttl > 0 && left < ttl / 3;
      el.classList.toggle("low", low);
      if (el.classList.contains("lease-bar")) {
        el.style.width = Math.max(0, Math.min(100, (100 * left) / ttl)) + "%";
      } else {
        el.textContent = left > 0 ? span(left) + (el.dataset.suffix || "") : "expired";
      }
    }
    for (const el of document.querySelectorAll("[data-ago]")) {
      el.textContent = span(now - Date.parse(el.dataset.ago));
    }
    if (state.received) {
      $("conn").title = "last update " + span(Date.now() - state.received) + " ago";
    }
  }

  // ---- Connection --------------------------------------------------------
  const CONN_TEXT = {
    connecting: "connecting…",
    live: "live",
    reconnecting: "reconnecting…",
    offline: "offline, retrying",
  };
  function setConn(value) {
    $("conn").dataset.state = value;
    $("conn-text").textContent = CONN_TEXT[value];
  }
  function connect() {
    if (state.source) state.source.close();
    setConn(state.source ? "reconnecting" : "connecting");
    const url = "/events" + (state.project ? "?project=" + encodeURIComponent(state.project) : "");
    const source = new EventSource(url);
    state.source = source;
    source.addEventListener("open", () => {
      state.retry = 0;
      setConn("live");
    });
    source.addEventListener("snapshot", (e) => onSnapshot(JSON.parse(e.data)));
    source.addEventListener("projects", (e) => onProjects(JSON.parse(e.data)));
    source.addEventListener("problem", (e) => onProblem(JSON.parse(e.data)));
    source.addEventListener("error", () => {
      if (source !== state.source) return;
      if (source.readyState === EventSource.CLOSED) {
        // Refused (the server restarted with another token, say): the
        // browser gives up on its own, so try again, more slowly each time.
        setConn("offline");
        const wait = Math.min(30000, 1000 * Math.pow(2, state.retry++));
        setTimeout(() => { if (state.source === source) connect(); }, wait);
      } else {
        setConn("reconnecting");
      }
    });
  }
  function onProblem(problem) {
    const banner = $("banner");
    banner.hidden = !problem;
    banner.textContent = problem ? problem.message + " (showing the last data read)" : "";
  }

  // ---- Projects ----------------------------------------------------------
  function onProjects(list) {
    state.projects = list;
    renderProjects();
  }
  function renderProjects() {
    const select = $("project");
    const current = state.snap ? state.snap.project : state.project;
    const list = state.projects;
    select.replaceChildren(...list.map((p) =>
      h("option", { value: p.project, text: (p.active ? "● " : "○ ") + p.project })
    ));
    if (current) select.value = current;
    select.hidden = list.length < 2;
    $("project-name").hidden = list.length >= 2;
  }
  function switchProject(project) {
    state.project = project;
    const url = new URL(location.href);
    url.searchParams.set("project", project);
    history.replaceState(null, "", url);
    state.snap = null;
    state.keys = {};
    for (const id of ["sessions", "board", "reservations", "feed", "audit"]) {
      $(id).replaceChildren(h("div", { class: "loading", text: "Loading…" }));
    }
    $("graph").replaceChildren();
    connect();
  }

  // ---- Snapshot ----------------------------------------------------------
  function onSnapshot(snap) {
    state.offset = snap.now - Date.now();
    state.received = Date.now();
    state.snap = snap;
    section("header", [snap.project, snap.adapter, snap.counts, snap.sessions], renderHeader);
    section("sessions", [snap.machines, snap.lease_ttl_seconds], renderSessions);
    section("board", [snap.tasks, state.doneOpen], renderBoard);
    section("graph", [snap.graph, snap.tasks], renderGraph);
    section("reservations", [snap.reservations], renderReservations);
    section("feed", [snap.handoffs, snap.messages], renderFeed);
    section("audit", [snap.audit], renderAudit);
    tick();
  }
  function section(name, parts, render) {
    const key = JSON.stringify(parts);
    if (state.keys[name] === key) return;
    state.keys[name] = key;
    render(state.snap);
  }

  function renderHeader(snap) {
    document.title = snap.project + " · " + snap.counts.in_progress + " in progress · Session coordinator";
    $("project-name").textContent = snap.project;
    $("adapter").textContent = snap.adapter;
    renderProjects();
    const chips = [chip("sessions", "sessions", snap.sessions)];
    for (const st of STATUSES) chips.push(chip(st.key, st.label.toLowerCase(), snap.counts[st.key]));
    $("counts").replaceChildren(...chips);
  }
  function chip(key, label, n) {
    return h("span", { class: "chip c-" + key + (n ? "" : " zero"), "data-count": key },
      h("span", { class: "dot" }), h("b", { text: n }), label);
  }

  // ---- Sessions ----------------------------------------------------------
  function renderSessions(snap) {
    $("n-sessions").textContent = snap.sessions || "";
    if (snap.machines.length === 0) {
      $("sessions").replaceChildren(empty("No live sessions", "Sessions show up here the moment they sign on."));
      return;
    }
    const out = [];
    for (const m of snap.machines) {
      out.push(h("div", { class: "machine" }, icon("machine"), h("span", { text: m.machine }),
        h("span", { class: "m-count", text: m.sessions.length + (m.sessions.length === 1 ? " session" : " sessions") })));
      for (const x of m.sessions) out.push(sessionCard(x, snap.lease_ttl_seconds));
    }
    $("sessions").replaceChildren(...out);
  }
  function sessionCard(x, ttl) {
    const task = x.tasks[0];
    return h("article", { class: "session", "data-session": x.session_id, "data-machine": x.machine },
      h("div", { class: "s-top" },
        h("span", { class: "s-id", text: x.session_id }),
        h("span", { class: "s-branch", title: x.branch ? "branch " + x.branch : "detached HEAD" },
          icon("branch"), x.branch || "detached"),
        h("span", { class: "s-ttl", title: "lease time left", "data-expires": x.lease_expires_at, "data-ttl": ttl })),
      h("div", { class: "lease" }, h("span", { class: "lease-bar", "data-expires": x.lease_expires_at, "data-ttl": ttl })),
      task
        ? h("div", { class: "s-task", title: task.task_id + ": " + task.title, "data-current": task.task_id },
          h("span", { class: "tid", text: task.task_id }), h("span", { class: "t-text", text: task.title }),
          x.tasks.length > 1 ? h("span", { class: "tid", text: "+" + (x.tasks.length - 1) }) : null)
        : h("div", { class: "s-task idle", text: "idle" }),
      h("div", { class: "s-foot", title: x.worktree + (x.client ? " · " + x.client : "") + " · pid " + x.pid },
        icon("folder"), h("span", { class: "wt", text: basename(x.worktree) }),
        h("span", { class: "sep", text: "·" }), "seen", h("span", { "data-ago": x.last_seen }), "ago",
        x.reservations ? [h("span", { class: "sep", text: "·" }), icon("lock"), String(x.reservations)] : null));
  }

  // ---- Board -------------------------------------------------------------
  function renderBoard(snap) {
    const root = $("board");
    const scroll = {};
    for (const body of root.querySelectorAll(".col-body")) scroll[body.dataset.status] = body.scrollTop;
    const groups = {};
    for (const st of STATUSES) groups[st.key] = [];
    for (const t of snap.tasks) (groups[t.status] || groups.blocked).push(t);
    $("n-tasks").textContent = snap.tasks.length || "";
    const cols = STATUSES.filter((st) => st.key !== "failed" || groups.failed.length > 0)
      .map((st) => column(st, groups[st.key], snap));
    root.replaceChildren(...cols);
    for (const body of root.querySelectorAll(".col-body")) body.scrollTop = scroll[body.dataset.status] || 0;
  }
  function toggleDone() {
    state.doneOpen = !state.doneOpen;
    store.set("csc.doneOpen", state.doneOpen ? "1" : "0");
    if (state.snap) section("board", [state.snap.tasks, state.doneOpen], renderBoard);
  }
  function column(st, tasks, snap) {
    const collapsible = st.key === "done";
    const collapsed = collapsible && !state.doneOpen;
    const head = h("div", { class: "col-head" }, h("span", { class: "dot" }),
      h("span", { class: "col-name", text: st.label }), h("span", { class: "col-n", text: tasks.length }),
      collapsible
        ? h("button", { type: "button", "data-toggle": "done", "aria-expanded": String(!collapsed),
          title: collapsed ? "Show done tasks" : "Hide done tasks", text: collapsed ? "›" : "‹", onclick: toggleDone })
        : null);
    const body = collapsed ? null : h("div", { class: "col-body", "data-status": st.key },
      tasks.length ? tasks.map((t) => taskCard(t, snap)) : h("div", { class: "col-empty", text: st.empty }));
    return h("section", {
      class: "col c-" + st.key + (collapsed ? " collapsed" : ""),
      "data-column": st.key,
      // A collapsed column is a narrow strip: all of it opens it, not just its button.
      onclick: collapsed ? (e) => { if (!e.target.closest("button")) toggleDone(); } : null,
    }, head, body);
  }
  function badge(cls, text, title, iconName) {
    return h("span", { class: "badge " + cls, title }, iconName ? icon(iconName) : null, text);
  }
  function taskCard(t, snap) {
    const meta = [h("span", { class: "tid", text: t.task_id })];
    if (t.owner) meta.push(h("span", { class: "owner", title: "worked on by " + t.owner }, icon("play"), t.owner));
    if (t.status === "in_progress" && t.claimed_at) {
      meta.push(h("span", { title: "claimed " + t.claimed_at, "data-ago": t.claimed_at }));
    }
    if (t.status === "blocked" && t.waiting_for.length) {
      meta.push(h("span", { class: "deps", title: "waits for " + t.waiting_for.join(", ") }, icon("link"),
        t.waiting_for.length === 1 ? t.waiting_for[0] : t.waiting_for.length + " tasks"));
    } else if (t.depends_on.length) {
      meta.push(h("span", { class: "deps", title: "depends on " + t.depends_on.join(", ") }, icon("link"),
        String(t.depends_on.length)));
    }
    if (t.stuck) meta.push(badge("stuck", "stuck", "in progress for over " + snap.stuck_after_minutes + " minutes", "alert"));
    if (t.retried) meta.push(badge("retry", t.attempts + " tries", "claimed " + t.attempts + " times", "retry"));
    if (t.dropped_by) {
      meta.push(badge("dropped", "dropped by " + t.dropped_by, "dropped by " + t.dropped_by + ": its session ended while holding it"));
    }
    if (t.priority) meta.push(badge("prio", "P" + t.priority, "priority " + t.priority));
    for (const label of t.labels.slice(0, 2)) meta.push(badge("label", label, "label"));
    return h("article", {
      class: "task s-" + t.status,
      "data-task": t.task_id,
      "data-status": t.status,
      title: t.task_id + ": " + t.title + (t.labels.length ? "\nlabels: " + t.labels.join(", ") : "") +
        (t.dependants ? "\n" + t.dependants + " task(s) depend on it" : ""),
    }, h("div", { class: "t-title", text: t.title }), h("div", { class: "t-meta" }, meta));
  }

  // ---- Dependency graph --------------------------------------------------
  const G = { w: 158, h: 24, gapX: 40, gapY: 8, pad: 10 };
  function renderGraph(snap) {
    const g = snap.graph;
    const root = $("graph");
    const notes = [];
    if (g.considered === "open") notes.push("open tasks");
    if (g.capped) notes.push(g.capped + " more not drawn");
    if (g.independent) notes.push(g.independent + " without dependencies not drawn");
    $("graph-note").textContent = notes.join(" · ");
    if (g.nodes.length === 0) {
      root.replaceChildren(empty("No dependencies", snap.tasks.length
        ? "No open task depends on another."
        : "Tasks posted with depends_on are drawn here."));
      return;
    }
    const byId = new Map(snap.tasks.map((t) => [t.task_id, t]));
    const pos = new Map(g.nodes.map((n) => [n.id, {
      x: G.pad + n.layer * (G.w + G.gapX),
      y: G.pad + n.row * (G.h + G.gapY),
    }]));
    const width = G.pad * 2 + g.layers * G.w + (g.layers - 1) * G.gapX;
    const height = G.pad * 2 + g.rows * (G.h + G.gapY) - G.gapY;
    const edges = g.edges.map(([from, to]) => {
      const a = pos.get(from), b = pos.get(to);
      const x1 = a.x + G.w, y1 = a.y + G.h / 2, x2 = b.x - 3, y2 = b.y + G.h / 2;
      const mid = x1 + Math.max(18, (x2 - x1) / 2);
      const dep = byId.get(from);
      return s("path", {
        class: "edge" + (dep && dep.status === "done" ? " met" : ""),
        d: "M" + x1 + " " + y1 + "C" + mid + " " + y1 + " " + (x2 - Math.max(18, (x2 - x1) / 2)) + " " + y2 + " " + x2 + " " + y2,
        "marker-end": "url(#arrow)",
        "data-from": from,
        "data-to": to,
      });
    });
    const nodes = g.nodes.map((n) => {
      const t = byId.get(n.id) || { task_id: n.id, title: n.id, status: "blocked" };
      const p = pos.get(n.id);
      return s("g", {
        class: "node s-" + t.status + (t.stuck || t.retried ? " attention" : ""),
        transform: "translate(" + p.x + "," + p.y + ")",
        "data-node": n.id,
      },
        s("title", { text: t.task_id + " (" + t.status.replace("_", " ") + ")\n" + t.title }),
        s("rect", { class: "box", width: G.w, height: G.h, rx: 6 }),
        s("rect", { class: "stripe", x: 0, y: 0, width: 4, height: G.h, rx: 2 }),
        s("text", { x: 10, y: 16, text: clip(t.title, 24) }));
    });
    const defs = s("defs", null, s("marker", {
      id: "arrow", viewBox: "0 0 8 8", refX: 7, refY: 4, markerWidth: 6, markerHeight: 6, orient: "auto",
    }, s("path", { class: "arrowhead", d: "M0 0L8 4L0 8z" })));
    root.replaceChildren(s("svg", { class: "graph-svg", width, height, viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": "Task dependency graph" },
      defs, s("g", null, edges), s("g", null, nodes)));
  }
  function highlight(id) {
    const root = $("graph");
    for (const el of root.querySelectorAll(".hl")) el.classList.remove("hl");
    if (!id) return null;
    const q = cssId(id);
    const node = root.querySelector('[data-node="' + q + '"]');
    if (!node) return null;
    node.classList.add("hl");
    for (const el of root.querySelectorAll('[data-from="' + q + '"], [data-to="' + q + '"]')) el.classList.add("hl");
    return node;
  }

  // ---- Reservations ------------------------------------------------------
  function renderReservations(snap) {
    const list = snap.reservations;
    $("n-res").textContent = list.length || "";
    $("reservations").replaceChildren(...(list.length
      ? list.map((r) => h("div", { class: "res" + (r.exclusive ? " exclusive" : ""), "data-reservation": r.path },
        icon(r.exclusive ? "lock" : "eye"),
        h("div", { class: "res-main" },
          h("div", { class: "res-head" }, h("span", { class: "res-path", text: r.path, title: r.path }),
            r.until ? h("span", { class: "when-left", "data-expires": r.until, "data-suffix": " left" }) : null),
          h("div", { class: "res-meta", title: r.reason || "" }, h("span", { class: "who", text: r.session_id }),
            " · " + (r.exclusive ? "exclusive" : "shared"),
            r.reason ? h("span", { class: "reason", text: " · " + r.reason }) : null))))
      : [empty("No reservations", "Paths a session reserves before editing show up here.")]));
  }

  // ---- Handoffs and messages ---------------------------------------------
  function renderFeed(snap) {
    const items = [];
    for (const m of snap.messages) items.push({ at: m.sent_at, el: messageRow(m) });
    for (const x of snap.handoffs) items.push({ at: x.signed_off_at, el: handoffRow(x) });
    items.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    $("feed").replaceChildren(...(items.length
      ? items.slice(0, 80).map((i) => i.el)
      : [empty("Nothing yet", "Handoffs left at sign-off and messages between sessions show up here.")]));
  }
  function messageRow(m) {
    return h("div", { class: "item msg", "data-message": m.message_id }, icon("mail"),
      h("div", { class: "item-main" },
        h("div", { class: "item-head" }, h("b", { text: m.from }), h("span", { class: "verb", text: "→" }),
          h("b", { text: m.to === "all" ? "everyone" : m.to }),
          m.thread ? h("span", { class: "verb", text: "#" + m.thread }) : null,
          h("span", { class: "when", "data-ago": m.sent_at })),
        m.subject ? h("div", { class: "subject", text: m.subject, title: m.subject }) : null,
        m.preview ? h("div", { class: "preview", text: m.preview, title: m.preview }) : null));
  }
  function handoffRow(x) {
    return h("div", { class: "item handoff", "data-handoff": x.session_id }, icon("handoff"),
      h("div", { class: "item-main" },
        h("div", { class: "item-head" }, h("b", { text: x.session_id }), h("span", { class: "verb", text: "handed off" }),
          h("span", { class: "pill " + (x.received_at ? "taken" : "waiting"), text: x.received_at ? "picked up" : "waiting" }),
          h("span", { class: "when", "data-ago": x.signed_off_at })),
        x.summary ? h("div", { class: "subject", text: x.summary, title: x.summary }) : null,
        h("div", { class: "item-sub" }, x.branch ? x.branch : "detached", x.commit ? " @ " + x.commit : "",
          x.next_steps ? " · " + x.next_steps + (x.next_steps === 1 ? " next step" : " next steps") : "")));
  }

  // ---- Activity ----------------------------------------------------------
  const CATEGORY = {
    sign_on: "session", sign_off: "session", lease_lost: "lost",
    post_task: "task", claim_task: "task", update_task: "task",
    reserve_paths: "files", release_paths: "files", send_message: "message",
  };
  function renderAudit(snap) {
    const out = [];
    let day = "";
    for (const e of snap.audit) {
      const d = new Date(e.at).toDateString();
      if (d !== day) {
        day = d;
        out.push(h("div", { class: "ev-day", text: d === new Date().toDateString() ? "Today" : d }));
      }
      out.push(auditRow(e));
    }
    $("audit").replaceChildren(...(out.length ? out : [empty("No activity yet", "Every change a session makes is logged here.")]));
  }
  function tid(id) {
    return id ? h("span", { class: "tid", text: id }) : "a task";
  }
  function paths(e) {
    const list = e.paths || [];
    if (!list.length) return "its paths";
    return h("code", { text: list.slice(0, 2).join(", ") + (list.length > 2 ? " +" + (list.length - 2) : "") });
  }
  function target(e) {
    return h("code", { text: (e.scope || "") + (e.key ? " / " + e.key : "") });
  }
  function describe(e) {
    switch (e.kind) {
      case "sign_on": return "signed on";
      case "sign_off": return "signed off";
      case "lease_lost": return ["lost its lease", e.detail ? ": " + e.detail : ""];
      case "post_task": return ["posted ", tid(e.task_id)];
      case "claim_task": return ["claimed ", tid(e.task_id)];
      case "update_task":
        return e.status ? ["marked ", tid(e.task_id), " " + e.status.replace("_", " ")] : ["noted on ", tid(e.task_id)];
      case "reserve_paths": return ["reserved ", paths(e)];
      case "release_paths": return ["released ", paths(e)];
      case "send_message": return ["messaged ", e.to === "all" ? "everyone" : h("span", { class: "actor", text: e.to || "?" })];
      case "store_data": return ["stored ", target(e)];
      case "delete_data": return ["deleted ", target(e)];
      case "delete_scope": return ["deleted scope ", target(e)];
      default:
        return [e.kind.replace(/_/g, " "), e.task_id ? [" ", tid(e.task_id)] : null, e.scope ? [" ", target(e)] : null,
          e.detail ? ": " + e.detail : ""];
    }
  }
  function auditRow(e) {
    const cat = e.kind === "update_task" && e.status === "done" ? "done"
      : e.kind.startsWith("admin:") ? "lost" : CATEGORY[e.kind] || "data";
    const failed = e.outcome !== "ok";
    return h("div", { class: "ev cat-" + cat + (failed ? " err" : ""), "data-kind": e.kind },
      h("span", { class: "ev-time", text: clock(e.at), title: e.at }),
      h("span", { class: "ev-rail" }),
      h("div", { class: "ev-text" }, h("span", { class: "actor", text: e.session_id || e.machine }), " ",
        describe(e), failed ? badge("fail", e.outcome, "the call failed") : null));
  }

  // ---- Wiring ------------------------------------------------------------
  $("project").addEventListener("change", (e) => switchProject(e.target.value));
  $("board").addEventListener("mouseover", (e) => {
    const card = e.target.closest("[data-task]");
    highlight(card ? card.dataset.task : null);
  });
  $("board").addEventListener("click", (e) => {
    const card = e.target.closest("[data-task]");
    const node = card && highlight(card.dataset.task);
    if (node) node.scrollIntoView({ block: "nearest", inline: "nearest", behavior: "smooth" });
  });
  $("board").addEventListener("mouseleave", () => highlight(null));
  $("graph").addEventListener("click", (e) => {
    const node = e.target.closest("[data-node]");
    if (!node) return;
    const card = $("board").querySelector('[data-task="' + cssId(node.dataset.node) + '"]');
    if (!card) return;
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
    card.classList.add("flash");
    setTimeout(() => card.classList.remove("flash"), 1200);
  });
  $("graph").addEventListener("mouseover", (e) => {
    const node = e.target.closest("[data-node]");
    highlight(node ? node.dataset.node : null);
  });
  setInterval(tick, 1000);
  connect();
})();
`;
