// The logs explorer's chart: events over time by type, from
// /explorer/stats (same filters as the table), drawn with Chart.js.
// The page works without it; this only adds the picture.
(function () {
  'use strict';
  var canvas = document.getElementById('chart');
  if (!canvas || typeof Chart === 'undefined') return;
  var palette = ['#2a6df4', '#e8743b', '#19a979', '#945ecf', '#13a4b4', '#d13b6c', '#6c8893', '#bf9a0b'];

  function label(ms, bucketMs) {
    var d = new Date(ms);
    var iso = d.toISOString();
    return bucketMs >= 86400000 ? iso.slice(0, 10) : iso.slice(0, 16).replace('T', ' ');
  }

  fetch(canvas.dataset.stats, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then(function (r) {
      if (!r.ok) throw new Error('stats: ' + r.status);
      return r.json();
    })
    .then(function (s) {
      var buckets = Math.max(1, Math.round((s.to_ms - s.from_ms) / s.bucket_ms) + 1);
      if (buckets > 500) buckets = 500;
      var labels = [];
      for (var i = 0; i < buckets; i++) labels.push(label(s.from_ms + i * s.bucket_ms, s.bucket_ms));
      var types = Object.keys(s.series).sort();
      var datasets = types.map(function (t, k) {
        var data = new Array(buckets).fill(0);
        s.series[t].forEach(function (p) {
          var i = Math.round((p[0] - s.from_ms) / s.bucket_ms);
          if (i >= 0 && i < buckets) data[i] += p[1];
        });
        return { label: t, data: data, backgroundColor: palette[k % palette.length], stack: 'events' };
      });
      var chart = new Chart(canvas, {
        type: 'bar',
        data: { labels: labels, datasets: datasets },
        options: {
          animation: false,
          responsive: true,
          scales: { x: { stacked: true, ticks: { maxTicksLimit: 12 } }, y: { stacked: true, beginAtZero: true } },
          plugins: { legend: { position: 'bottom' } }
        }
      });
      canvas.dataset.drawn = String(datasets.length);
      window.vialChart = chart;
    })
    .catch(function (e) {
      canvas.dataset.error = String(e.message || e);
    });
})();

// Live mode: the button streams new logs matching the page's user and type
// filters (/explorer/live: Server-Sent Events, one "log" event per stored
// log) and puts each at the top of the table.  EventSource reconnects by
// itself and sends the last id it saw, so nothing stored meanwhile is
// missed.  Text goes in with textContent only: log fields are user input.
(function () {
  'use strict';
  var button = document.getElementById('live');
  var status = document.getElementById('live-status');
  var table = document.getElementById('logs');
  if (!button || !table || typeof EventSource === 'undefined') return;
  var body = table.tBodies[0];
  var source = null;
  button.hidden = false;

  function say(state, text) {
    status.textContent = text;
    button.dataset.state = state;
  }

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    if (cls) {
      var span = document.createElement(cls === 'tag' ? 'span' : cls);
      if (cls === 'tag') span.className = 'tag';
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    tr.appendChild(td);
  }

  function details(r) {
    var parts = [];
    if (r.locationX !== null) parts.push('x=' + r.locationX + ', y=' + r.locationY);
    if (r.viewedId) parts.push('viewed ' + r.viewedId);
    if (r.pageFrom || r.pageTo) parts.push((r.pageFrom || '') + ' \u2192 ' + (r.pageTo || ''));
    return parts.join(' ');
  }

  function add(r) {
    var empty = body.querySelector('td.empty');
    if (empty) empty.parentNode.remove();
    var tr = document.createElement('tr');
    tr.className = 'live';
    tr.dataset.id = String(r.id);
    cell(tr, String(r.id));
    cell(tr, r.time, 'time');
    cell(tr, r.userId);
    cell(tr, r.sessionId);
    cell(tr, r.log_type, 'tag');
    cell(tr, details(r));
    body.insertBefore(tr, body.firstChild);
  }

  function start() {
    source = new EventSource(button.dataset.live);
    say('connecting', 'live: connecting\u2026');
    source.onopen = function () { say('open', 'live: new logs appear at the top'); };
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED) stop('live: stopped (the server refused)');
      else say('reconnecting', 'live: reconnecting\u2026');
    };
    source.addEventListener('log', function (e) {
      try {
        add(JSON.parse(e.data));
      } catch (err) {
        say('error', 'live: unreadable event');
      }
    });
    button.setAttribute('aria-pressed', 'true');
  }

  function stop(text) {
    if (source) source.close();
    source = null;
    button.setAttribute('aria-pressed', 'false');
    say('off', text || '');
  }

  button.addEventListener('click', function () {
    if (source) stop();
    else start();
  });
  window.addEventListener('pagehide', function () { if (source) source.close(); });
})();
