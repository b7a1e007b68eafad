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
