/**
 * The page's HTML: the frame every section renders into. It holds no data
 * and no inline script or style (the Content-Security-Policy allows only
 * this server's /app.js and /app.css), so it is the same for every request.
 *
 * @module
 */

/** The dashboard's HTML page. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>Session coordinator</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header class="top">
  <div class="brand"><span class="logo" aria-hidden="true"></span><span>Session coordinator</span></div>
  <div class="project">
    <label class="sr" for="project">Project</label>
    <select id="project" hidden></select>
    <span id="project-name" class="project-name"></span>
    <span id="adapter" class="tag" title="Storage adapter"></span>
  </div>
  <div id="counts" class="counts" aria-label="Task counts"></div>
  <div id="conn" class="conn" data-state="connecting" role="status">
    <span class="dot"></span><span id="conn-text">connecting…</span>
  </div>
</header>
<div id="banner" class="banner" role="alert" hidden></div>
<main class="grid">
  <section class="panel sessions" aria-labelledby="h-sessions">
    <h2 id="h-sessions">Sessions <span id="n-sessions" class="n"></span></h2>
    <div id="sessions" class="scroll"><div class="loading">Loading…</div></div>
  </section>
  <div class="center">
    <section class="panel board" aria-labelledby="h-board">
      <h2 id="h-board">Task board <span id="n-tasks" class="n"></span></h2>
      <div id="board" class="columns"><div class="loading">Loading…</div></div>
    </section>
    <section class="panel graph" aria-labelledby="h-graph">
      <h2 id="h-graph">Dependencies <span id="graph-note" class="note"></span></h2>
      <div id="graph" class="scroll graph-area"></div>
    </section>
  </div>
  <div class="side">
    <section class="panel reservations" aria-labelledby="h-res">
      <h2 id="h-res">File reservations <span id="n-res" class="n"></span></h2>
      <div id="reservations" class="scroll"></div>
    </section>
    <section class="panel feed" aria-labelledby="h-feed">
      <h2 id="h-feed">Handoffs &amp; messages</h2>
      <div id="feed" class="scroll"></div>
    </section>
    <section class="panel audit" aria-labelledby="h-audit">
      <h2 id="h-audit">Activity <span class="note">audit log</span></h2>
      <div id="audit" class="scroll timeline"></div>
    </section>
  </div>
</main>
</body>
</html>
`;

/** The page's icon: four linked nodes, the coordinator's mark. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#4f46e5"/>
<path d="M10 10L22 10M10 10L16 22M22 10L16 22" stroke="#c7d2fe" stroke-width="2.2" fill="none"/>
<circle cx="10" cy="10" r="3.6" fill="#fff"/><circle cx="22" cy="10" r="3.6" fill="#fff"/>
<circle cx="16" cy="22" r="3.6" fill="#a5f3fc"/>
</svg>
`;
