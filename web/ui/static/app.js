// Kedge status page: reads the cluster API and follows its server-sent
// events. Plain DOM, no framework; all data goes in through textContent.
'use strict';

(function () {
  const API = '/v1';
  const $ = (id) => document.getElementById(id);

  let source = null;   // the EventSource while watching
  let retryTimer = 0;  // pending reconnect
  let backoff = 1000;  // ms, doubles up to 30 s
  let last = null;     // the last snapshot, for re-rendering ages

  function setLive(state, text) {
    const el = $('live');
    el.dataset.live = state;
    el.textContent = text;
  }

  function stopWatch() {
    if (source) {
      source.close();
      source = null;
    }
    if (retryTimer) {
      clearTimeout(retryTimer);
      retryTimer = 0;
    }
  }

  function retryLater() {
    stopWatch();
    retryTimer = setTimeout(start, backoff);
    backoff = Math.min(backoff * 2, 30000);
  }

  function showLogin(message) {
    stopWatch();
    last = null;
    $('dash').hidden = true;
    $('signout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    setLive('offline', 'signed out');
    $('token').focus();
  }

  function showDash() {
    $('login').hidden = true;
    $('dash').hidden = false;
    $('signout').hidden = false;
  }

  // start checks that we may read the cluster, then watches it.
  async function start() {
    retryTimer = 0;
    let resp;
    try {
      resp = await fetch(API + '/cluster/status', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    } catch (e) {
      setLive('offline', 'unreachable');
      retryLater();
      return;
    }
    if (resp.status === 401) {
      showLogin('');
      return;
    }
    if (!resp.ok) {
      setLive('offline', 'error ' + resp.status);
      retryLater();
      return;
    }
    showDash();
    watch();
  }

  function watch() {
    stopWatch();
    setLive('connecting', 'connecting');
    const es = new EventSource(API + '/cluster/watch');
    source = es;
    es.addEventListener('snapshot', (ev) => {
      backoff = 1000;
      setLive('live', 'live');
      last = JSON.parse(ev.data);
      render(last);
    });
    es.addEventListener('failure', (ev) => {
      let msg = 'the node could not read the cluster state';
      try { msg = JSON.parse(ev.data).message || msg; } catch (e) { /* keep the default */ }
      setLive('stale', 'stale');
      $('status-line').textContent = 'Stale: ' + msg;
    });
    es.onerror = () => {
      if (source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // Refused (401 after a restart, or an error): find out why.
        setLive('offline', 'disconnected');
        retryLater();
      } else {
        setLive('reconnecting', 'reconnecting');
      }
    };
  }

  // ----- rendering -----

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function isZeroTime(t) {
    return !t || t.startsWith('0001-01-01');
  }

  function fmtAge(t) {
    if (isZeroTime(t)) return '—';
    let s = Math.max(0, Math.floor((Date.now() - Date.parse(t)) / 1000));
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm';
    const h = Math.floor(m / 60);
    if (h < 48) return h + 'h' + (m % 60 ? ' ' + (m % 60) + 'm' : '');
    return Math.floor(h / 24) + 'd';
  }

  function fmtTime(t) {
    return isZeroTime(t) ? '—' : new Date(t).toLocaleString();
  }

  function fmtBytes(n) {
    if (!n) return '0';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)) + ' ' + units[i];
  }

  function fmtCPU(millis) {
    return (millis / 1000).toFixed(millis % 1000 ? 1 : 0) + ' CPU';
  }

  function text(id, v) {
    $(id).textContent = (v === undefined || v === null || v === '') ? '—' : String(v);
  }

  function render(snap) {
    const st = snap.status || {};
    const nodes = (snap.nodes || []).slice().sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
    const workloads = (snap.workloads || []).slice().sort((a, b) =>
      (a.namespace || '').localeCompare(b.namespace || '') || (a.name || '').localeCompare(b.name || '') ||
      (a.kind || '').localeCompare(b.kind || ''));
    renderSummary(st, nodes);
    renderNodes(nodes, podsByNode(workloads));
    renderWorkloads(workloads);
    renderEvents(snap.events || []);
  }

  function renderSummary(st, nodes) {
    text('cluster-title', st.member ? st.cluster_id : 'standalone');
    let line;
    if (!st.member) {
      line = 'Standalone engine: this node is not in a cluster.';
    } else {
      const down = nodes.filter((n) => n.state === 'down').length;
      line = (st.healthy ? 'Healthy' : 'Unhealthy') +
        ' · leader ' + (st.leader_name || st.leader_id || 'none') +
        ' · ' + (st.voters || 0) + ' voters' +
        ' · fault tolerance ' + (st.fault_tolerance || 0) +
        (down ? ' · ' + down + ' down' : '');
    }
    const line_ = $('status-line');
    if (line_.textContent !== line) line_.textContent = line; // aria-live: announce changes only
    line_.dataset.healthy = st.member ? String(!!st.healthy) : 'standalone';

    text('s-cluster', st.cluster_id);
    text('s-node', st.node_name ? st.node_name + ' (' + (st.node_id || '').slice(0, 8) + ')' : st.node_id);
    text('s-leader', st.leader_name || st.leader_id || (st.member ? 'none' : ''));
    text('s-raft', st.raft_state);
    text('s-term', st.term);
    text('s-applied', st.applied_index);
    text('s-commit', st.commit_index);
    text('s-voters', st.member ? (st.voters || 0) + ' / ' + (st.members || 0) : '');
    text('s-ft', st.member ? st.fault_tolerance : '');

    const warnings = $('warnings');
    warnings.replaceChildren(...(st.warnings || []).map((w) => el('li', {}, w)));
  }

  // podsByNode counts the pods placed on each node, keyed by the pod's node:
  // a node's name, or its id when the cluster does not know the name.
  function podsByNode(workloads) {
    const counts = new Map();
    for (const w of workloads) {
      for (const p of w.pods || []) {
        if (!p.node) continue; // not placed yet
        const c = counts.get(p.node) || { total: 0, phases: {} };
        const phase = p.phase || 'Unknown';
        c.total++;
        c.phases[phase] = (c.phases[phase] || 0) + 1;
        counts.set(p.node, c);
      }
    }
    return counts;
  }

  // nodePods is a node's pod count, and its phases for the tooltip.
  function nodePods(counts, n) {
    const total = { total: 0, phases: {} };
    for (const key of new Set([n.name, n.id])) {
      const c = key && counts.get(key);
      if (!c) continue;
      total.total += c.total;
      for (const [ph, k] of Object.entries(c.phases)) total.phases[ph] = (total.phases[ph] || 0) + k;
    }
    const detail = Object.keys(total.phases).sort().map((ph) => total.phases[ph] + ' ' + ph).join(', ');
    return el('td', { class: 'num pods', title: detail || 'no pods' }, String(total.total));
  }

  function renderNodes(nodes, podCounts) {
    const rows = nodes.map((n) => {
      const state = n.state || 'unknown';
      const name = el('th', { scope: 'row' }, n.name || n.id);
      if (n.leader) name.append(' ', el('span', { class: 'badge leader', title: 'Raft leader' }, 'leader'));
      if (n.cordoned) name.append(' ', el('span', { class: 'badge', title: 'No new work is placed here' }, 'cordoned'));
      const labels = el('td', { class: 'labels' });
      for (const k of Object.keys(n.labels || {}).sort()) {
        labels.append(el('span', { class: 'chip' }, k + '=' + n.labels[k]), ' ');
      }
      const cap = n.capacity || {};
      return el('tr', { 'data-node-id': n.id, 'data-state': state },
        name,
        el('td', {}, el('code', { title: n.id }, (n.id || '').slice(0, 8))),
        el('td', {}, n.api_addr || n.address || '—'),
        el('td', { class: 'role' }, n.voter ? 'voter' : 'non-voter'),
        el('td', {}, el('span', { class: 'state state-' + state, title: 'since ' + fmtTime(n.state_since) }, state)),
        el('td', { title: 'joined ' + fmtTime(n.joined_at) }, fmtAge(n.joined_at)),
        el('td', {}, n.version || '—'),
        labels,
        el('td', {}, fmtCPU(cap.cpu_millis || 0) + ' · ' + fmtBytes(cap.memory_bytes || 0)),
        nodePods(podCounts, n));
    });
    if (rows.length === 0) {
      rows.push(el('tr', {}, el('td', { colSpan: 10, class: 'empty' }, 'No nodes.')));
    }
    document.querySelector('#nodes tbody').replaceChildren(...rows);
  }

  // health of a workload: ok with all its pods ready, down with none,
  // degraded in between.
  function health(w) {
    const ready = w.ready || 0;
    if (ready >= (w.desired || 0)) return 'ok';
    return ready === 0 ? 'down' : 'degraded';
  }

  // renderWorkloads draws one row group (tbody) a workload: a header row with
  // the workload and its ready/desired count, then a row a pod.
  function renderWorkloads(workloads) {
    const count = { ok: 0, degraded: 0, down: 0 };
    let pods = 0;
    const groups = workloads.map((w) => {
      const h = health(w);
      count[h]++;
      const id = (w.namespace || '') + '/' + (w.name || '');
      const head = el('th', { scope: 'rowgroup', colSpan: 5 },
        el('span', { class: 'wkind' }, w.kind || 'Workload'), ' ',
        el('span', { class: 'wname' }, id), ' ',
        el('span', { class: 'ready-count health-' + h, title: (w.ready || 0) + ' of ' + (w.desired || 0) + ' pods ready' },
          (w.ready || 0) + '/' + (w.desired || 0)),
        ' ready');
      if (h !== 'ok') head.append(' ', el('span', { class: 'badge health-' + h }, h));
      const list = (w.pods || []).slice().sort((a, b) => (a.name || '').localeCompare(b.name || ''));
      pods += list.length;
      const rows = list.map((p) => {
        const phase = p.phase || 'Unknown';
        return el('tr', { 'data-pod': p.name, 'data-ready': String(!!p.ready) },
          el('th', { scope: 'row' }, p.name),
          el('td', { class: 'node' }, p.node || 'not placed'),
          el('td', { class: 'phase phase-' + phase.toLowerCase() }, phase),
          el('td', { class: 'pod-ready ' + (p.ready ? 'yes' : 'no') }, p.ready ? 'yes' : 'no'),
          el('td', { class: 'num restarts' }, String(p.restarts || 0)));
      });
      if (rows.length === 0) rows.push(el('tr', {}, el('td', { colSpan: 5, class: 'empty' }, 'No pods.')));
      return el('tbody', { 'data-workload': (w.kind || '') + '/' + id, 'data-health': h },
        el('tr', { class: 'workload' }, head), ...rows);
    });
    if (groups.length === 0) {
      groups.push(el('tbody', {}, el('tr', {}, el('td', { colSpan: 5, class: 'empty' }, 'No workloads.'))));
    }
    const table = $('workloads');
    for (const b of Array.from(table.tBodies)) b.remove();
    table.append(...groups);

    let line = workloads.length + (workloads.length === 1 ? ' workload' : ' workloads') +
      ', ' + pods + (pods === 1 ? ' pod' : ' pods');
    const bad = [];
    if (count.degraded) bad.push(count.degraded + ' degraded');
    if (count.down) bad.push(count.down + ' down');
    line += workloads.length ? ' · ' + (bad.length ? bad.join(', ') : 'all ready') : '';
    const sum = $('workloads-summary');
    if (sum.textContent !== line) sum.textContent = line; // aria-live: announce changes only
    sum.dataset.health = count.down ? 'down' : count.degraded ? 'degraded' : 'ok';
  }

  function renderEvents(events) {
    const items = events.slice().reverse().map((ev) => el('li', { 'data-index': String(ev.index) },
      el('time', { dateTime: ev.time, title: fmtTime(ev.time) }, fmtTime(ev.time)), ' ',
      el('span', { class: 'kind' }, ev.kind), ' ',
      el('span', { class: 'object' }, ev.object), ' ',
      el('span', { class: 'message' }, ev.message)));
    if (items.length === 0) items.push(el('li', { class: 'empty' }, 'No events yet.'));
    $('events').replaceChildren(...items);
  }

  // ----- sign-in -----

  async function signIn(ev) {
    ev.preventDefault();
    const token = $('token').value.trim();
    if (!token) {
      $('login-error').textContent = 'Enter a token.';
      return;
    }
    $('login-submit').disabled = true;
    try {
      const resp = await fetch(API + '/auth/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token: token }),
        cache: 'no-store',
      });
      if (resp.ok) {
        $('token').value = '';
        $('login-error').textContent = '';
        backoff = 1000;
        start();
        return;
      }
      let msg = 'Sign-in failed (' + resp.status + ').';
      if (resp.status === 401) msg = 'Invalid token.';
      else {
        try { msg = (await resp.json()).message || msg; } catch (e) { /* keep */ }
      }
      $('login-error').textContent = msg;
    } catch (e) {
      $('login-error').textContent = 'The node is unreachable.';
    } finally {
      $('login-submit').disabled = false;
    }
  }

  async function signOut() {
    stopWatch();
    try {
      await fetch(API + '/auth/logout', { method: 'POST', cache: 'no-store' });
    } catch (e) { /* the cookie stays; the form shows anyway */ }
    showLogin('');
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', signOut);
    setInterval(() => { if (last && source) render(last); }, 30000); // ages
    start();
  });
})();
