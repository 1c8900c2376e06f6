/**
 * The page's style sheet. One grid that fits a 1366×768 laptop screen:
 * sessions on the left, the board over the dependency graph in the middle,
 * reservations, handoffs and messages, and the activity timeline on the
 * right; every panel scrolls on its own. Colours come from variables that
 * follow the system's light or dark mode.
 *
 * @module
 */

/** The dashboard's CSS. */
export const PAGE_CSS = `
:root {
  color-scheme: light dark;
  --bg: #f3f4f6;
  --panel: #ffffff;
  --panel-2: #f7f8fa;
  --border: #e3e6eb;
  --border-strong: #cfd4dc;
  --text: #1a1f29;
  --muted: #5f6b7a;
  --faint: #8e98a6;
  --accent: #4f46e5;
  --edge: #a3acb9;
  --hl: #4f46e5;
  --progress: #2563eb; --progress-bg: #eaf1ff;
  --ready: #15803d; --ready-bg: #e8f7ee;
  --blocked: #b45309; --blocked-bg: #fdf3e6;
  --failed: #dc2626; --failed-bg: #fdecec;
  --done: #64748b; --done-bg: #eef1f5;
  --session: #7c3aed;
  --shadow: 0 1px 2px rgba(16, 24, 40, 0.05);
  --sans: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0b0e13;
    --panel: #141922;
    --panel-2: #10151c;
    --border: #252c37;
    --border-strong: #354050;
    --text: #e5e9f0;
    --muted: #9ba6b4;
    --faint: #6b7584;
    --accent: #818cf8;
    --edge: #4b5563;
    --hl: #a5b4fc;
    --progress: #60a5fa; --progress-bg: rgba(96, 165, 250, 0.13);
    --ready: #4ade80; --ready-bg: rgba(74, 222, 128, 0.11);
    --blocked: #fbbf24; --blocked-bg: rgba(251, 191, 36, 0.11);
    --failed: #f87171; --failed-bg: rgba(248, 113, 113, 0.13);
    --done: #94a3b8; --done-bg: rgba(148, 163, 184, 0.10);
    --session: #a78bfa;
    --shadow: none;
  }
}
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body {
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--bg); color: var(--text);
  font: 13px/1.4 var(--sans);
  -webkit-font-smoothing: antialiased;
}
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.mono, .tid, code { font-family: var(--mono); font-size: 11.5px; }
code { background: var(--panel-2); border: 1px solid var(--border); border-radius: 4px; padding: 0 4px; }
.icon {
  width: 13px; height: 13px; flex: none; vertical-align: -2px;
  fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round;
}

/* Header */
header.top {
  display: flex; align-items: center; gap: 18px; flex: none;
  height: 46px; padding: 0 14px;
  background: var(--panel); border-bottom: 1px solid var(--border);
}
.brand { display: flex; align-items: center; gap: 8px; font-weight: 650; font-size: 14px; white-space: nowrap; }
.logo { width: 20px; height: 20px; border-radius: 5px; background: url(/favicon.svg) center / cover; }
.project { display: flex; align-items: center; gap: 8px; min-width: 0; }
.project-name { font-family: var(--mono); font-size: 13px; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
select {
  font: 600 13px var(--mono); color: var(--text); background: var(--panel-2);
  border: 1px solid var(--border-strong); border-radius: 6px; padding: 3px 6px; max-width: 260px;
}
.tag {
  font-size: 11px; color: var(--muted); border: 1px solid var(--border); border-radius: 999px;
  padding: 1px 8px; white-space: nowrap;
}
.tag:empty { display: none; }
.counts { display: flex; gap: 6px; margin-left: auto; flex-wrap: nowrap; overflow: hidden; }
.chip {
  display: inline-flex; align-items: center; gap: 5px; white-space: nowrap;
  padding: 2px 9px 2px 7px; border-radius: 999px; font-size: 12px; color: var(--muted);
  background: var(--panel-2); border: 1px solid var(--border);
}
.chip b { color: var(--text); font-weight: 650; font-variant-numeric: tabular-nums; }
.chip.zero { opacity: 0.55; }
.chip.c-failed:not(.zero) { background: var(--failed-bg); border-color: transparent; }
.chip.c-failed:not(.zero) b { color: var(--failed); }
.dot { width: 8px; height: 8px; border-radius: 50%; background: var(--faint); flex: none; }
.c-sessions .dot { background: var(--session); }
.c-in_progress .dot { background: var(--progress); }
.c-ready .dot { background: var(--ready); }
.c-blocked .dot { background: var(--blocked); }
.c-failed .dot { background: var(--failed); }
.c-done .dot { background: var(--done); }
.conn { display: flex; align-items: center; gap: 6px; font-size: 12px; color: var(--muted); white-space: nowrap; min-width: 92px; }
.conn[data-state="live"] .dot { background: #22c55e; box-shadow: 0 0 0 3px rgba(34, 197, 94, 0.2); }
.conn[data-state="connecting"] .dot, .conn[data-state="reconnecting"] .dot { background: #f59e0b; }
.conn[data-state="offline"] .dot { background: var(--failed); }
.banner {
  flex: none; padding: 6px 14px; font-size: 12.5px;
  background: var(--failed-bg); color: var(--failed); border-bottom: 1px solid var(--border);
}

/* The grid */
main.grid {
  flex: 1; min-height: 0; display: grid; gap: 10px; padding: 10px;
  grid-template-columns: 272px minmax(0, 1fr) 318px;
}
.center { display: grid; grid-template-rows: minmax(0, 3fr) minmax(0, 2fr); gap: 10px; min-height: 0; }
.side { display: grid; grid-template-rows: minmax(0, 1fr) minmax(0, 1fr) minmax(0, 1.5fr); gap: 10px; min-height: 0; }
.panel {
  display: flex; flex-direction: column; min-height: 0; min-width: 0;
  background: var(--panel); border: 1px solid var(--border); border-radius: 9px; box-shadow: var(--shadow);
}
.panel > h2 {
  display: flex; align-items: baseline; gap: 6px; flex: none; margin: 0; padding: 8px 12px 7px;
  font-size: 11px; font-weight: 650; letter-spacing: 0.06em; text-transform: uppercase; color: var(--muted);
  border-bottom: 1px solid var(--border);
}
.panel > h2 .n { color: var(--text); letter-spacing: 0; }
.panel > h2 .note { margin-left: auto; font-weight: 500; text-transform: none; letter-spacing: 0; color: var(--faint); }
.scroll { flex: 1; min-height: 0; overflow: auto; }
.loading { padding: 14px; color: var(--faint); }
.empty { padding: 18px 14px; text-align: center; color: var(--faint); }
.empty-title { font-weight: 600; color: var(--muted); margin-bottom: 2px; }
.empty-hint { font-size: 12px; }

/* Sessions */
.machine {
  position: sticky; top: 0; z-index: 1; display: flex; align-items: center; gap: 6px;
  padding: 6px 12px; font-size: 12px; font-weight: 650; color: var(--muted);
  background: var(--panel-2); border-bottom: 1px solid var(--border);
}
.machine .m-count { margin-left: auto; font-weight: 500; color: var(--faint); }
.session { padding: 7px 12px 8px; border-bottom: 1px solid var(--border); }
.session:last-child { border-bottom: 0; }
.s-top { display: flex; align-items: center; gap: 7px; min-width: 0; }
.s-id { font-family: var(--mono); font-weight: 700; font-size: 12.5px; color: var(--session); }
.s-branch { display: inline-flex; align-items: center; gap: 3px; min-width: 0; color: var(--muted); font-size: 12px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.s-ttl { margin-left: auto; font-size: 11px; color: var(--muted); font-variant-numeric: tabular-nums; white-space: nowrap; }
.s-ttl.low { color: var(--failed); font-weight: 600; }
.lease { height: 3px; margin: 5px 0 5px; border-radius: 2px; background: var(--border); overflow: hidden; }
.lease-bar { display: block; height: 100%; width: 100%; background: var(--ready); border-radius: 2px; transition: width 1s linear; }
.lease-bar.low { background: var(--failed); }
.s-task { display: flex; gap: 5px; align-items: baseline; font-size: 12.5px; min-width: 0; }
.s-task .t-text { overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.s-task .tid { color: var(--progress); flex: none; }
.s-task.idle { color: var(--faint); font-style: italic; }
.s-foot { display: flex; gap: 4px; align-items: center; margin-top: 3px; font-size: 11px; color: var(--faint); white-space: nowrap; overflow: hidden; }
.s-foot .wt { overflow: hidden; text-overflow: ellipsis; min-width: 0; }
.s-foot .sep { opacity: 0.6; }

/* Board */
.columns { display: flex; gap: 8px; padding: 8px; flex: 1; min-height: 0; }
.col {
  flex: 1 1 0; min-width: 0; display: flex; flex-direction: column;
  background: var(--panel-2); border: 1px solid var(--border); border-radius: 7px;
}
.col-head { display: flex; align-items: center; gap: 6px; padding: 6px 8px; font-size: 12px; font-weight: 650; flex: none; }
.col-head .col-n { color: var(--muted); font-weight: 500; font-variant-numeric: tabular-nums; }
.col-head button {
  margin-left: auto; font: inherit; font-size: 11px; font-weight: 500; color: var(--muted); cursor: pointer;
  background: none; border: 1px solid var(--border); border-radius: 5px; padding: 0 6px;
}
.col.collapsed { flex: 0 0 36px; cursor: pointer; }
.col.collapsed .col-head { flex-direction: column; gap: 8px; padding: 8px 0; height: 100%; }
.col.collapsed .col-name, .col.collapsed .col-n { writing-mode: vertical-rl; }
.col.collapsed button { margin: 0; padding: 2px 0; width: 22px; }
.col-body { flex: 1; min-height: 0; overflow: auto; padding: 0 6px 6px; display: flex; flex-direction: column; gap: 5px; }
.col-empty { padding: 10px 4px; text-align: center; color: var(--faint); font-size: 12px; }
.task {
  flex: none; padding: 5px 8px 6px; border-radius: 6px;
  background: var(--panel); border: 1px solid var(--border); border-left: 3px solid var(--faint);
  cursor: default;
}
.task:hover, .task.flash { border-color: var(--hl); border-left-color: var(--hl); }
.task.s-in_progress { border-left-color: var(--progress); }
.task.s-ready { border-left-color: var(--ready); }
.task.s-blocked { border-left-color: var(--blocked); }
.task.s-failed { border-left-color: var(--failed); }
.task.s-done { border-left-color: var(--done); }
.task.s-done .t-title { color: var(--muted); }
.t-title {
  font-size: 12.5px; line-height: 1.3;
  display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden;
}
.t-meta { display: flex; flex-wrap: wrap; align-items: center; gap: 3px 7px; min-width: 0; margin-top: 3px; font-size: 11px; color: var(--muted); }
.t-meta .tid { color: var(--faint); font-size: 10.5px; }
.t-meta .owner { display: inline-flex; align-items: center; gap: 3px; font-family: var(--mono); font-weight: 600; color: var(--session); }
.t-meta .owner .icon { width: 9px; height: 9px; fill: currentColor; stroke: none; }
.t-meta .deps { display: inline-flex; align-items: center; gap: 2px; }
.t-meta .deps .icon { width: 11px; height: 11px; }
.badge {
  display: inline-block; max-width: 100%; overflow: hidden; text-overflow: ellipsis; vertical-align: middle;
  padding: 0 6px; border-radius: 999px; font-size: 10.5px; font-weight: 650; line-height: 16px; white-space: nowrap;
}
.badge .icon { width: 10px; height: 10px; stroke-width: 2.5; margin-right: 3px; vertical-align: -1px; }
.badge.stuck, .badge.fail { background: var(--failed-bg); color: var(--failed); }
.badge.retry, .badge.dropped { background: var(--blocked-bg); color: var(--blocked); }
.badge.prio { background: var(--progress-bg); color: var(--progress); }
.badge.label { background: var(--done-bg); color: var(--muted); font-weight: 500; }

/* Dependency graph */
.graph-area { padding: 4px; }
.graph-svg { display: block; }
.edge { fill: none; stroke: var(--edge); stroke-width: 1.3; }
.edge.met { stroke-dasharray: 3 3; opacity: 0.7; }
.edge.hl { stroke: var(--hl); stroke-width: 2.2; opacity: 1; }
.arrowhead { fill: var(--edge); }
.node { cursor: pointer; }
.node .box { fill: var(--panel); stroke: var(--border-strong); stroke-width: 1; }
.node .stripe { fill: var(--faint); }
.node text { font: 11px var(--sans); fill: var(--text); }
.node.s-in_progress .box { fill: var(--progress-bg); stroke: var(--progress); }
.node.s-in_progress .stripe { fill: var(--progress); }
.node.s-ready .box { fill: var(--ready-bg); }
.node.s-ready .stripe { fill: var(--ready); }
.node.s-blocked .stripe { fill: var(--blocked); }
.node.s-failed .box { fill: var(--failed-bg); stroke: var(--failed); }
.node.s-failed .stripe { fill: var(--failed); }
.node.s-done .stripe { fill: var(--done); }
.node.s-done text { fill: var(--muted); }
.node.attention .box { stroke: var(--failed); stroke-dasharray: 4 2; }
.node.hl .box, .node:hover .box { stroke: var(--hl); stroke-width: 2; }

/* Reservations, handoffs and messages */
.res, .item { display: flex; gap: 8px; padding: 6px 12px; border-bottom: 1px solid var(--border); min-width: 0; }
.res > .icon, .item > .icon { margin-top: 2px; color: var(--faint); }
.res.exclusive > .icon { color: var(--blocked); }
.res-main, .item-main { min-width: 0; flex: 1; }
.res-head { display: flex; align-items: baseline; gap: 6px; min-width: 0; }
.res-path { font-family: var(--mono); font-size: 12px; font-weight: 600; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; min-width: 0; }
.when-left { margin-left: auto; flex: none; font-size: 11px; color: var(--faint); font-variant-numeric: tabular-nums; }
.res-meta, .item-sub { font-size: 11.5px; color: var(--muted); overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.who { font-family: var(--mono); color: var(--session); font-weight: 600; }
.res-meta .reason { font-size: inherit; }
.reason, .preview { font-size: 12px; color: var(--muted); overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.subject { font-size: 12.5px; font-weight: 600; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.item-head { display: flex; align-items: baseline; gap: 5px; font-size: 12px; white-space: nowrap; min-width: 0; }
.item-head b { font-family: var(--mono); font-size: 11.5px; color: var(--session); }
.item-head .verb { color: var(--muted); }
.when { margin-left: auto; font-size: 11px; color: var(--faint); font-variant-numeric: tabular-nums; }
.when::after { content: " ago"; }
.item.handoff > .icon { color: var(--accent); }
.pill { font-size: 10.5px; font-weight: 600; padding: 0 6px; border-radius: 999px; line-height: 16px; }
.pill.waiting { background: var(--blocked-bg); color: var(--blocked); }
.pill.taken { background: var(--ready-bg); color: var(--ready); }

/* Activity timeline */
.timeline { padding: 4px 0; }
.ev { display: grid; grid-template-columns: 58px 16px minmax(0, 1fr); align-items: start; padding: 0 12px 0 8px; font-size: 12px; }
.ev-time { font-family: var(--mono); font-size: 10.5px; color: var(--faint); padding-top: 4px; text-align: right; padding-right: 6px; font-variant-numeric: tabular-nums; }
.ev-rail { position: relative; align-self: stretch; }
.ev-rail::before { content: ""; position: absolute; left: 7px; top: 0; bottom: 0; width: 1px; background: var(--border); }
.ev-rail::after { content: ""; position: absolute; left: 4px; top: 8px; width: 7px; height: 7px; border-radius: 50%; background: var(--faint); box-shadow: 0 0 0 2px var(--panel); }
.ev.cat-session .ev-rail::after { background: var(--session); }
.ev.cat-task .ev-rail::after { background: var(--progress); }
.ev.cat-done .ev-rail::after { background: var(--ready); }
.ev.cat-files .ev-rail::after { background: var(--blocked); }
.ev.cat-message .ev-rail::after { background: var(--accent); }
.ev.err .ev-rail::after, .ev.cat-lost .ev-rail::after { background: var(--failed); }
.ev-text { padding: 2px 0 3px 4px; min-width: 0; overflow-wrap: anywhere; }
.ev-text .actor { font-family: var(--mono); font-size: 11.5px; font-weight: 600; }
.ev-text .tid { color: var(--progress); }
.ev-text .badge { margin-left: 4px; }
.ev-day { padding: 6px 12px 2px 8px; font-size: 10.5px; color: var(--faint); font-weight: 600; }

@media (max-width: 1100px) {
  main.grid { grid-template-columns: 240px minmax(0, 1fr); }
  .side { grid-column: 1 / -1; grid-template-rows: none; grid-template-columns: repeat(3, minmax(0, 1fr)); min-height: 260px; }
  body { overflow: auto; }
}
`;
