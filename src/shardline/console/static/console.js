// The Shardline console: renders the feed (Server-Sent Events from /api/events),
// draws live charts with uPlot, and sends confirmed actions to /api/actions/*.
// Interactive elements are created once and only their text changes afterwards,
// so keyboard focus survives the updates.
"use strict";

(() => {
  const MAX_POINTS = 300;
  const MAX_TAIL_ROWS = 200;
  const PALETTE = ["#1f5fbf", "#17803d", "#b3261e", "#a15c00", "#6b3fa0", "#00838f", "#5b6576", "#c2185b"];

  const view = {
    charts: {},
    snapshot: null,
    previous: null,
    tail: null,
    tailed: 0,
    regionsBuilt: false,
  };
  window.shardlineConsole = view; // for people poking around, and for the browser tests

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "className") node.className = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function clock(seconds) {
    return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
  }

  function notice(text, ok = true) {
    const line = $("notice");
    line.textContent = text;
    line.style.color = ok ? "" : "var(--bad)";
  }

  // -- confirmation and actions ------------------------------------------------------

  function confirmAction(text) {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
      dialog.returnValue = "cancel";
      dialog.showModal();
    });
  }

  async function act(name, body, question) {
    if (!(await confirmAction(question))) {
      notice("cancelled");
      return;
    }
    notice(`${name}: sending…`);
    try {
      const response = await fetch(`/api/actions/${name}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const result = await response.json();
      notice(result.message, result.ok);
    } catch (error) {
      notice(`${name} failed: ${error}`, false);
    }
  }

  const FAULTS = {
    outage: { fault: { outage: true }, label: "Inject outage…", says: "refuse every call with 503" },
    errors: { fault: { error_rate: 0.5, status: 500 }, label: "Inject 50 % errors…", says: "fail half the calls with 500" },
    clear: { fault: null, label: "Clear fault…", says: "clear its injected fault" },
  };

  // -- topology ------------------------------------------------------------------------

  function buildRegions(topology) {
    const cards = $("regions");
    for (const region of topology.regions) {
      const actions = el("div", { className: "actions" });
      if (region.endpoint !== "AWS") {
        for (const [kind, spec] of Object.entries(FAULTS)) {
          const button = el("button", { type: "button", dataset: { fault: kind } }, spec.label);
          button.addEventListener("click", () =>
            act("fault", { region: region.name, fault: spec.fault }, `${region.name}: ${spec.says}?`));
          actions.append(button);
        }
      }
      cards.append(el("article", { className: "card", dataset: { region: region.name } },
        el("h3", {}, `${region.name} `, el("span", { className: "role" }, `(${region.role})`),
          " ", el("span", { className: "badge active-mark" }, "")),
        el("dl", {},
          el("dt", {}, "health"), el("dd", {}, el("span", { className: "badge health" }, "…")),
          el("dt", {}, "error rate"), el("dd", { className: "error-rate" }, "…"),
          el("dt", {}, "calls in window"), el("dd", { className: "calls" }, "…"),
          el("dt", {}, "canary"), el("dd", { className: "canary" }, "…"),
          el("dt", {}, "endpoint"), el("dd", {}, region.endpoint)),
        actions));
    }
    const select = $("browse-region");
    for (const region of topology.regions) select.append(el("option", { value: region.name }, region.name));
    view.regionsBuilt = true;
  }

  function renderRegions(snapshot) {
    const active = snapshot.state ? snapshot.state.active_region : null;
    for (const card of document.querySelectorAll("#regions .card")) {
      const name = card.dataset.region;
      const health = snapshot.regions[name] || {};
      const badge = card.querySelector(".health");
      badge.textContent = health.state || "UNKNOWN";
      badge.className = `badge health ${health.state || ""}`;
      card.querySelector(".error-rate").textContent = `${((health.error_rate || 0) * 100).toFixed(2)} %`;
      card.querySelector(".calls").textContent = String(health.calls || 0);
      const canary = health.canary || {};
      card.querySelector(".canary").textContent = canary.at
        ? `${canary.ok ? "passed" : "FAILED"} ${Math.max(0, snapshot.at - canary.at).toFixed(1)} s ago`
        : "no round yet";
      card.classList.toggle("active", name === active);
      card.querySelector(".active-mark").textContent = name === active ? "active" : "";
    }
  }

  function renderSummary(snapshot) {
    const state = snapshot.state;
    if (!state) {
      $("summary").textContent = snapshot.error ? `control store: ${snapshot.error}` : "no control state yet";
      return;
    }
    const replication = state.replication ? `${state.replication.source} → ${state.replication.target}` : "off";
    $("summary").textContent =
      `active region ${state.active_region} · epoch ${state.epoch} · replication ${replication}` +
      ` · ${snapshot.topology.standby} standby`;
  }

  // -- charts --------------------------------------------------------------------------

  class LiveChart {
    constructor(element) {
      this.element = element;
      this.keys = [];
      this.data = [[]];
      this.plot = null;
    }

    push(time, values) {
      let rebuild = this.plot === null;
      for (const key of Object.keys(values)) {
        if (!this.keys.includes(key)) {
          this.keys.push(key);
          this.data.push(this.data[0].map(() => null));
          rebuild = true;
        }
      }
      this.data[0].push(time);
      this.keys.forEach((key, i) => this.data[i + 1].push(key in values ? values[key] : null));
      if (this.data[0].length > MAX_POINTS) this.data.forEach((series) => series.shift());
      if (rebuild) this.create();
      else this.plot.setData(this.data);
    }

    create() {
      if (this.plot) this.plot.destroy();
      const series = this.keys.map((key, i) => ({ label: key, stroke: PALETTE[i % PALETTE.length], width: 2 }));
      this.plot = new uPlot({
        width: Math.max(this.element.clientWidth, 280),
        height: 200,
        scales: { x: { time: true } },
        series: [{}, ...series],
        axes: [{}, { size: 60 }],
        legend: { live: false },
      }, this.data, this.element);
    }

    resize() {
      if (this.plot) this.plot.setSize({ width: Math.max(this.element.clientWidth, 280), height: 200 });
    }

    get points() {
      return this.data[0].length;
    }
  }

  for (const name of ["throughput", "replication", "consumers", "sink"]) {
    view.charts[name] = new LiveChart($(`chart-${name}`));
  }
  window.addEventListener("resize", () => Object.values(view.charts).forEach((chart) => chart.resize()));

  function sinkTotals(snapshot) {
    const totals = { applied: 0, stale: 0, duplicates: 0 };
    for (const consumer of snapshot.consumers) {
      for (const key of Object.keys(totals)) totals[key] += (consumer.sink || {})[key] || 0;
    }
    return totals;
  }

  function rate(now, before, value, old) {
    const seconds = now.at - before.at;
    return seconds > 0 ? Math.max(0, (value - old) / seconds) : 0;
  }

  function renderCharts(now, before) {
    if (before) {
      const throughput = { acknowledged: rate(now, before, now.flow.acked, before.flow.acked) };
      for (const [region, count] of Object.entries(now.flow.sink)) {
        throughput[`applied by ${region}`] = rate(now, before, count, before.flow.sink[region] || 0);
      }
      view.charts.throughput.push(now.at, throughput);
      const sinkNow = sinkTotals(now);
      const sinkBefore = sinkTotals(before);
      const outcomes = {};
      for (const key of Object.keys(sinkNow)) outcomes[key] = rate(now, before, sinkNow[key], sinkBefore[key]);
      view.charts.sink.push(now.at, outcomes);
    }
    const replication = {};
    for (const run of now.replication) replication[`${run.source} → ${run.target}`] = run.lag_ms;
    view.charts.replication.push(now.at, replication);
    const consumers = {};
    for (const consumer of now.consumers) {
      for (const [shard, figures] of Object.entries(consumer.shards || {})) {
        const number = shard.replace(/^shardId-0*/, "") || "0";
        consumers[`${consumer.application}@${consumer.region} g${consumer.generation} #${number}`] = figures.millis_behind;
      }
    }
    view.charts.consumers.push(now.at, consumers);
  }

  // -- timeline, drill, processes ----------------------------------------------------

  function renderTimeline(snapshot) {
    $("decisions").replaceChildren(...snapshot.decisions.slice().reverse().map((decision) =>
      el("li", { dataset: { epoch: String(decision.epoch) } },
        el("time", {}, clock(decision.changed_at)),
        `epoch ${decision.epoch}: ${decision.active_region} active — ${decision.reason}`)));
    const failback = snapshot.failback;
    $("failback-progress").hidden = failback.lines.length === 0;
    $("failback-lines").replaceChildren(...failback.lines.map((entry) =>
      el("li", {}, el("time", {}, clock(entry.at)), entry.line)));
    renderDrill(snapshot.drill);
  }

  function renderDrill(report) {
    $("drill").hidden = !report;
    if (!report) return;
    // A chaos drill reports spreads ({p50, p99, max}); a single drill, one figure.
    const one = (value) => (value === null || value === undefined ? "n/a" : value.toFixed(1));
    const seconds = (value) =>
      value !== null && typeof value === "object"
        ? `${["p50", "p99", "max"].map((key) => one(value[key])).join(" / ")} s (p50 / p99 / max)`
        : value === null || value === undefined ? "n/a" : `${one(value)} s`;
    const figures = [
      ["result", report.passed ? "PASSED" : "FAILED"],
      ["RPO (acknowledged records lost)", `${report.rpo_records} of ${report.acknowledged}`],
      ["RTO (fault → new records processed)", seconds(report.rto_s)],
      ["detection (fault → decision)", seconds(report.detection_s)],
      ["duplicates absorbed / visible", `${report.duplicate_deliveries_absorbed} / ${report.visible_duplicates}`],
    ];
    $("drill-figures").replaceChildren(...figures.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
    $("drill-timeline").replaceChildren(...report.timeline.map((event) =>
      el("li", {}, el("time", {}, `${event.t >= 0 ? "+" : ""}${event.t.toFixed(1)} s`), event.event)));
  }

  function renderProcesses(snapshot) {
    $("process-rows").replaceChildren(...snapshot.processes.map((process) =>
      el("tr", { dataset: { process: process.name } },
        el("td", {}, process.name),
        el("td", {}, process.pid === null ? "–" : String(process.pid)),
        el("td", {}, String(process.restarts)),
        el("td", { className: process.alive ? "" : "dead" }, process.alive ? "yes" : "no"),
        el("td", {}, process.last_line))));
  }

  function render(snapshot) {
    if (!view.regionsBuilt) buildRegions(snapshot.topology);
    view.previous = view.snapshot;
    view.snapshot = snapshot;
    renderSummary(snapshot);
    renderRegions(snapshot);
    renderCharts(snapshot, view.previous);
    renderTimeline(snapshot);
    renderProcesses(snapshot);
  }

  // -- stream browser and tail ----------------------------------------------------------

  function shardTable(stream) {
    return el("table", {},
      el("thead", {}, el("tr", {}, ...["shard", "parent", "adjacent parent", "hash range", "state"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...stream.shards.map((shard) => el("tr", {},
        el("td", {}, shard.id),
        el("td", {}, shard.parent || "–"),
        el("td", {}, shard.adjacent_parent || "–"),
        el("td", {}, `${shard.hash_range[0]} – ${shard.hash_range[1]}`),
        el("td", {}, shard.open ? "open" : "closed")))));
  }

  async function browse() {
    const region = $("browse-region").value;
    const list = $("stream-list");
    list.replaceChildren(el("p", {}, `reading ${region}…`));
    const response = await fetch(`/api/streams?region=${encodeURIComponent(region)}`);
    const described = await response.json();
    if (described.error) {
      list.replaceChildren(el("p", {}, `${region} did not answer: ${described.error}`));
      return;
    }
    list.replaceChildren(...described.streams.map((stream) => {
      const button = el("button", { type: "button", dataset: { stream: stream.name } }, `Tail ${stream.name}`);
      button.addEventListener("click", () => startTail(region, stream.name));
      return el("article", { className: "card", dataset: { stream: stream.name } },
        el("h3", {}, stream.name),
        el("p", {}, `${stream.status} · ${stream.mode} · ${stream.retention_hours} h retention · encryption ${stream.encryption}`),
        shardTable(stream),
        el("div", { className: "actions" }, button));
    }));
  }

  function tailRow(record) {
    const data = record.text !== undefined ? record.text : `base64 ${record.base64}`;
    const key = record.aggregated ? `${record.partition_key} (KPL #${record.sub_sequence_number})` : record.partition_key;
    return el("tr", {},
      el("td", {}, clock(record.arrival)),
      el("td", {}, record.shard),
      el("td", {}, key),
      el("td", {}, record.record_id || "–"),
      el("td", {}, record.origin_region || "–"),
      el("td", {}, data));
  }

  function startTail(region, stream) {
    stopTail();
    $("tail").hidden = false;
    $("tail-title").textContent = `Live tail of ${stream} in ${region}`;
    $("tail-rows").replaceChildren();
    view.tailed = 0;
    const source = new EventSource(`/api/tail?region=${encodeURIComponent(region)}&stream=${encodeURIComponent(stream)}`);
    source.onmessage = (event) => {
      const rows = $("tail-rows");
      rows.prepend(tailRow(JSON.parse(event.data)));
      view.tailed += 1;
      while (rows.children.length > MAX_TAIL_ROWS) rows.lastChild.remove();
    };
    source.addEventListener("failure", (event) => notice(JSON.parse(event.data), false));
    view.tail = source;
    notice(`tailing ${stream} in ${region}: new records appear as they are put`);
  }

  function stopTail() {
    if (view.tail) view.tail.close();
    view.tail = null;
  }

  // -- wiring --------------------------------------------------------------------------

  $("failover").addEventListener("click", () => {
    const state = view.snapshot && view.snapshot.state;
    if (!state) return notice("no control state yet", false);
    const target = view.snapshot.topology.regions.find((r) => r.name !== state.active_region).name;
    act("failover", { to_region: target },
      `Make ${target} the active region (a new epoch)? Producers and consumers follow the decision.`);
  });
  $("failback").addEventListener("click", () =>
    act("failback", {}, "Fail back to the primary region, step by step? (It waits until the primary is healthy.)"));
  $("browse-refresh").addEventListener("click", browse);
  $("browse-region").addEventListener("change", browse);
  $("tail-stop").addEventListener("click", () => { stopTail(); notice("tail stopped"); });

  const events = new EventSource("/api/events");
  events.onopen = () => { $("connection").textContent = "live"; $("connection").className = "badge online"; };
  events.onerror = () => { $("connection").textContent = "reconnecting"; $("connection").className = "badge offline"; };
  events.onmessage = (event) => {
    const first = view.snapshot === null;
    render(JSON.parse(event.data));
    if (first) {
      const active = view.snapshot.state ? view.snapshot.state.active_region : null;
      if (active) $("browse-region").value = active;
      browse();
    }
  };
})();
