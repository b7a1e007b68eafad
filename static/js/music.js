// The music page (/music): a client of the catalogue's JSON API — search
// with filters and keyset pages, random songs, features by year, a
// histogram and a scatter plot for the search's filters (Chart.js), and the
// logged-in user's playlists.  Every URL comes from the page's data-*
// attributes (url_for: right behind a url_prefix too); every text from the
// catalogue goes in with textContent only (names are data, not markup).
(function () {
  'use strict';
  var root = document.getElementById('music');
  if (!root) return;
  var FEATURES = ['danceability', 'energy', 'speechiness', 'acousticness', 'instrumentalness', 'liveness',
    'valence', 'tempo', 'loudness', 'duration_ms'];
  var UNIT = { danceability: 1, energy: 1, speechiness: 1, acousticness: 1, instrumentalness: 1, liveness: 1, valence: 1 };
  var palette = ['#2a6df4', '#e8743b', '#19a979', '#945ecf', '#13a4b4', '#d13b6c', '#6c8893', '#bf9a0b', '#5b8c2a', '#8c2a5b'];
  var $ = function (id) { return document.getElementById(id); };
  var status = $('m-status');
  var csrf = root.dataset.csrf || '';
  var charts = {};
  var nextUrl = null;
  var hasChart = typeof Chart !== 'undefined';

  function say(text, state) {
    status.textContent = text;
    status.dataset.state = state || 'ok';
  }

  // fetch as JSON; errors (the common shape) become exceptions with the
  // server's message
  function api(url, opts) {
    opts = opts || {};
    var headers = { Accept: 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.method && opts.method !== 'GET') headers['X-CSRF-Token'] = csrf;
    return fetch(url, { method: opts.method || 'GET', credentials: 'same-origin', headers: headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
      .then(function (r) {
        if (r.status === 204) return { data: null, res: r };
        return r.json().then(function (j) {
          if (!r.ok) throw new Error((j && (j.message || j.error)) || ('HTTP ' + r.status));
          return { data: j, res: r };
        });
      });
  }

  function nextLink(res) {
    var link = res.headers.get('Link') || '';
    var m = /<([^>]+)>;\s*rel="next"/.exec(link);
    return m ? m[1] : null;
  }

  // ---------------------------------------------------------------- filters

  Array.prototype.forEach.call(document.querySelectorAll('select.m-features'), function (sel, k) {
    FEATURES.forEach(function (f) {
      var o = document.createElement('option');
      o.value = f;
      o.textContent = f;
      sel.appendChild(o);
    });
    if (sel.id === 'm-ffeature') {
      var none = document.createElement('option');
      none.value = '';
      none.textContent = '(none)';
      sel.insertBefore(none, sel.firstChild);
      sel.value = '';
    }
    if (sel.id === 'm-sy') sel.value = 'energy';
    if (sel.id === 'm-hfeature') sel.value = 'tempo';
    void k;
  });

  function filters() {
    var p = new URLSearchParams();
    var q = $('m-q').value.trim();
    if (q) p.set('q', q);
    [['m-year-min', 'year_min'], ['m-year-max', 'year_max'], ['m-explicit', 'explicit']].forEach(function (x) {
      var v = $(x[0]).value.trim();
      if (v) p.set(x[1], v);
    });
    var f = $('m-ffeature').value;
    if (f) {
      if ($('m-fmin').value.trim()) p.set(f + '_min', $('m-fmin').value.trim());
      if ($('m-fmax').value.trim()) p.set(f + '_max', $('m-fmax').value.trim());
    }
    return p;
  }

  function withParams(base, p) {
    var s = p.toString();
    return s ? base + (base.indexOf('?') < 0 ? '?' : '&') + s : base;
  }

  // ---------------------------------------------------------------- results

  var tbody = $('m-results').tBodies[0];

  function cell(tr, text) {
    var td = document.createElement('td');
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function fmt(v) {
    return v === null || v === undefined ? '' : (Math.round(v * 1000) / 1000).toString();
  }

  function showSongs(songs, append) {
    if (!append) tbody.textContent = '';
    if (!songs.length && !append) {
      var tr = document.createElement('tr');
      var td = cell(tr, 'No songs match.');
      td.colSpan = 8;
      td.className = 'empty';
      tbody.appendChild(tr);
      return;
    }
    songs.forEach(function (s) {
      var tr = document.createElement('tr');
      tr.dataset.id = s.id;
      cell(tr, s.name);
      cell(tr, s.artists.map(function (a) { return a.name; }).join(', '));
      cell(tr, s.album.name);
      cell(tr, s.year === null ? '' : String(s.year));
      cell(tr, fmt(s.danceability));
      cell(tr, fmt(s.energy));
      cell(tr, fmt(s.tempo));
      var td = cell(tr, '');
      if (csrf) {
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'secondary add';
        b.textContent = 'Add';
        b.addEventListener('click', function () { addToPlaylist(s.id); });
        td.appendChild(b);
      }
      tbody.appendChild(tr);
    });
  }

  function search(url, append) {
    say('searching\u2026', 'busy');
    return api(url).then(function (r) {
      showSongs(r.data, append);
      nextUrl = nextLink(r.res);
      $('m-next').hidden = !nextUrl;
      say(tbody.querySelectorAll('tr[data-id]').length + ' songs shown' + (nextUrl ? ', more on the next page' : ''));
    }).catch(function (e) { say(e.message, 'error'); });
  }

  $('m-filters').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var p = filters();
    if ($('m-sort').value) p.set('sort', $('m-sort').value);
    p.set('limit', '25');
    search(withParams(root.dataset.songs, p), false);
  });
  $('m-next').addEventListener('click', function () {
    if (nextUrl) search(nextUrl, true);
  });
  $('m-random').addEventListener('click', function () {
    var p = filters();
    p.set('n', '25');
    say('drawing\u2026', 'busy');
    api(withParams(root.dataset.random, p)).then(function (r) {
      showSongs(r.data, false);
      nextUrl = null;
      $('m-next').hidden = true;
      say(r.data.length + ' random songs');
    }).catch(function (e) { say(e.message, 'error'); });
  });

  // ---------------------------------------------------------------- charts

  function draw(id, config) {
    if (!hasChart) return;
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
    charts[id] = new Chart($(id), config);
    $(id).dataset.drawn = String(config.data.datasets.reduce(function (n, d) { return n + d.data.length; }, 0));
  }

  var years = null;
  var yearBox = $('m-year-features');
  FEATURES.forEach(function (f, k) {
    var l = document.createElement('label');
    var c = document.createElement('input');
    c.type = 'checkbox';
    c.value = f;
    c.checked = f === 'danceability' || f === 'energy' || f === 'valence';
    c.addEventListener('change', drawYears);
    l.appendChild(c);
    l.appendChild(document.createTextNode(' ' + f));
    yearBox.appendChild(l);
    void k;
  });

  function drawYears() {
    if (!years) return;
    var chosen = Array.prototype.filter.call(yearBox.querySelectorAll('input'), function (c) { return c.checked; })
      .map(function (c) { return c.value; });
    var right = chosen.some(function (f) { return !UNIT[f]; });
    draw('m-years', {
      type: 'line',
      data: {
        labels: years.map(function (y) { return y.year; }),
        datasets: chosen.map(function (f) {
          return { label: f, data: years.map(function (y) { return y[f]; }), borderColor: palette[FEATURES.indexOf(f)],
            backgroundColor: palette[FEATURES.indexOf(f)], pointRadius: 0, yAxisID: UNIT[f] ? 'y' : 'y2' };
        })
      },
      options: { scales: { y: { min: 0, max: 1, title: { display: true, text: '0..1 features' } },
        y2: { display: right, position: 'right', grid: { drawOnChartArea: false } } },
        plugins: { legend: { position: 'bottom' } } }
    });
  }

  api(root.dataset.years).then(function (r) {
    years = r.data;
    drawYears();
  }).catch(function (e) { $('m-years').dataset.error = e.message; });

  function drawHistogram() {
    var p = filters();
    var f = $('m-hfeature').value;
    p.set('feature', f);
    p.set('bins', $('m-bins').value.trim() || '20');
    return api(withParams(root.dataset.histogram, p)).then(function (r) {
      draw('m-histogram', {
        type: 'bar',
        data: { labels: r.data.bins.map(function (b) { return fmt(b.lo) + '\u2013' + fmt(b.hi); }),
          datasets: [{ label: f + ' (' + r.data.songs + ' songs)', data: r.data.bins.map(function (b) { return b.count; }),
            backgroundColor: palette[0] }] },
        options: { plugins: { legend: { position: 'bottom' } }, scales: { y: { beginAtZero: true } } }
      });
    }).catch(function (e) { say(e.message, 'error'); });
  }
  $('m-hdraw').addEventListener('click', drawHistogram);

  function drawScatter() {
    var p = filters();
    p.set('n', '1000');
    var x = $('m-sx').value, y = $('m-sy').value;
    return api(withParams(root.dataset.random, p)).then(function (r) {
      draw('m-scatter', {
        type: 'scatter',
        data: { datasets: [{ label: r.data.length + ' songs', data: r.data.map(function (s) { return { x: s[x], y: s[y] }; }),
          backgroundColor: 'rgba(42,109,244,0.35)', pointRadius: 2 }] },
        options: { scales: { x: { title: { display: true, text: x } }, y: { title: { display: true, text: y } } },
          plugins: { legend: { position: 'bottom' } } }
      });
    }).catch(function (e) { say(e.message, 'error'); });
  }
  $('m-sdraw').addEventListener('click', drawScatter);
  drawHistogram();
  drawScatter();

  // ---------------------------------------------------------------- playlists

  if (!csrf) return;
  var select = $('m-pl-select');
  var list = $('m-pl-songs');

  function plUrl(id, rest) {
    return root.dataset.playlists + '/' + encodeURIComponent(id) + (rest || '');
  }

  function loadPlaylists(choose) {
    return api(withParams(root.dataset.myPlaylists, new URLSearchParams({ limit: '100' }))).then(function (r) {
      select.textContent = '';
      if (!r.data.length) {
        var o = document.createElement('option');
        o.value = '';
        o.textContent = '(none yet)';
        select.appendChild(o);
      }
      r.data.forEach(function (pl) {
        var o = document.createElement('option');
        o.value = String(pl.id);
        o.textContent = pl.name + (pl.public ? ' (public)' : '') + ' \u00b7 ' + pl.song_count;
        select.appendChild(o);
      });
      if (choose) select.value = String(choose);
      return showPlaylist();
    }).catch(function (e) { say(e.message, 'error'); });
  }

  function showPlaylist(pl) {
    if (!select.value) {
      list.textContent = '';
      return Promise.resolve();
    }
    var got = pl ? Promise.resolve({ data: pl }) : api(plUrl(select.value));
    return got.then(function (r) {
      list.textContent = '';
      list.dataset.id = String(r.data.id);
      r.data.songs.forEach(function (s, i) {
        var li = document.createElement('li');
        li.dataset.id = s.id;
        var t = document.createElement('span');
        t.textContent = s.name + ' \u2014 ' + s.artists.map(function (a) { return a.name; }).join(', ');
        li.appendChild(t);
        [['\u2191', 'up', i > 0 ? s.position - 1 : 0], ['\u2193', 'down', i < r.data.songs.length - 1 ? s.position + 1 : 0]]
          .forEach(function (m) {
            if (!m[2]) return;
            var b = document.createElement('button');
            b.type = 'button';
            b.className = 'secondary ' + m[1];
            b.textContent = m[0];
            b.setAttribute('aria-label', 'move ' + m[1]);
            b.addEventListener('click', function () {
              api(plUrl(select.value, '/songs/' + s.position), { method: 'PATCH', body: { position: m[2] } })
                .then(function (x) { return showPlaylist(x.data); }).catch(function (e) { say(e.message, 'error'); });
            });
            li.appendChild(b);
          });
        var rm = document.createElement('button');
        rm.type = 'button';
        rm.className = 'secondary remove';
        rm.textContent = 'Remove';
        rm.addEventListener('click', function () {
          api(plUrl(select.value, '/songs/' + s.position), { method: 'DELETE' })
            .then(function () { return loadPlaylists(select.value); }).catch(function (e) { say(e.message, 'error'); });
        });
        li.appendChild(rm);
        list.appendChild(li);
      });
    }).catch(function (e) { say(e.message, 'error'); });
  }

  function addToPlaylist(songId) {
    if (!select.value) {
      say('create or choose a playlist first', 'error');
      return;
    }
    api(plUrl(select.value, '/songs'), { method: 'POST', body: { song_id: songId } })
      .then(function () { say('added'); return loadPlaylists(select.value); })
      .catch(function (e) { say(e.message, 'error'); });
  }

  $('m-new-playlist').addEventListener('submit', function (ev) {
    ev.preventDefault();
    api(root.dataset.playlists, { method: 'POST', body: { name: $('m-pl-name').value, public: $('m-pl-public').checked } })
      .then(function (r) { $('m-pl-name').value = ''; say('playlist created'); return loadPlaylists(r.data.id); })
      .catch(function (e) { say(e.message, 'error'); });
  });
  $('m-pl-delete').addEventListener('click', function () {
    if (!select.value) return;
    api(plUrl(select.value), { method: 'DELETE' }).then(function () { say('playlist deleted'); return loadPlaylists(); })
      .catch(function (e) { say(e.message, 'error'); });
  });
  select.addEventListener('change', function () { showPlaylist(); });
  loadPlaylists();
})();
