// The chat page (/chat): a client of the WebSocket protocol at /ws/chat
// (README.md, "The chat protocol").  Channel list, create, history on
// join, live messages; when the connection drops it reconnects with a
// growing delay (0.5 s doubling to 10 s), says hello again under the same
// name, re-joins the channels it was in and merges what the history holds
// that it missed (messages are kept by id, so nothing shows twice).
// Everything from the server is shown with textContent: never markup.
(function () {
  'use strict';
  var root = document.getElementById('chat');
  if (!root) return;
  var $ = function (id) { return document.getElementById(id); };
  var wsPath = root.dataset.ws, user = root.dataset.user || '';
  var name = user;             // the name to say hello with ('' for an account: the server knows it)
  var ws = null, welcomed = false, backoff = 500, refs = 0;
  var channels = [];           // names, in the order the server lists them
  var wanted = {};             // channels joined (joined again after a reconnect)
  var msgs = {};               // channel -> { id -> message }, shown in id order
  var current = null;          // the channel shown

  function status(text) { $('chat-status').textContent = text; }

  function send(frame) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    frame.ref = 'r' + (++refs);
    ws.send(JSON.stringify(frame));
    return true;
  }

  function renderChannels() {
    var ul = $('channels');
    ul.textContent = '';
    channels.forEach(function (c) {
      var li = document.createElement('li');
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = '#' + c;
      b.dataset.channel = c;
      b.setAttribute('aria-current', c === current ? 'true' : 'false');
      b.addEventListener('click', function () { show(c); });
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  function renderMessages() {
    var ol = $('messages');
    ol.textContent = '';
    if (!current) return;
    var box = msgs[current] || {};
    Object.keys(box).map(Number).sort(function (a, b) { return a - b; }).forEach(function (id) {
      var m = box[id];
      var li = document.createElement('li');
      li.dataset.id = String(m.id);
      if (m.name === (user || name)) li.className = 'mine';
      var t = document.createElement('time');
      t.dateTime = m.time;
      t.textContent = new Date(m.time).toLocaleTimeString();
      var who = document.createElement('span');
      who.className = 'who';
      who.textContent = m.name;
      var text = document.createElement('span');
      text.className = 'text';
      text.textContent = m.text;
      li.appendChild(t);
      li.appendChild(who);
      li.appendChild(text);
      ol.appendChild(li);
    });
    ol.scrollTop = ol.scrollHeight;
  }

  function keep(m) {
    (msgs[m.channel] = msgs[m.channel] || {})[m.id] = m;
  }

  function show(c) {
    current = c;
    $('room-title').textContent = '#' + c;
    $('text').disabled = $('send').disabled = false;
    renderChannels();
    renderMessages();
    if (!wanted[c]) {
      wanted[c] = true;
      send({ type: 'join', channel: c });
    }
  }

  function onFrame(f) {
    switch (f.type) {
      case 'welcome':
        welcomed = true;
        backoff = 500;
        name = f.name;
        channels = f.channels.slice();
        $('chat-login').hidden = true;
        $('chat-main').hidden = false;
        status('Connected as ' + f.name);
        renderChannels();
        // back after a drop: join again what we were in (the history
        // brings what was missed)
        Object.keys(wanted).forEach(function (c) { send({ type: 'join', channel: c }); });
        break;
      case 'channel':
        if (channels.indexOf(f.channel) < 0) channels.push(f.channel);
        renderChannels();
        if (f.ref) show(f.channel); // the one we created
        break;
      case 'history':
        f.messages.forEach(keep);
        if (f.channel === current) renderMessages();
        break;
      case 'message':
        keep(f);
        if (f.channel === current) renderMessages();
        if (f.ref) $('text').value = '';
        break;
      case 'left':
        delete wanted[f.channel];
        break;
      case 'error':
        if (f.code === 'name_taken' && !welcomed && ws._reconnect) {
          // our previous connection may not be gone yet: ask again later
          status('Reconnecting…');
          setTimeout(function () { send({ type: 'hello', name: name }); }, backoff);
          backoff = Math.min(backoff * 2, 10000);
          return;
        }
        if (!welcomed) $('chat-login').hidden = false;
        status('Error: ' + f.message + ' (' + f.code + ')');
        break;
    }
  }

  function connect(reconnect) {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + wsPath;
    ws = new WebSocket(url);
    ws._reconnect = reconnect;
    welcomed = false;
    status(reconnect ? 'Reconnecting…' : 'Connecting…');
    ws.addEventListener('open', function () {
      var hello = { type: 'hello' };
      if (!user) hello.name = name;
      send(hello);
    });
    ws.addEventListener('message', function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      onFrame(f);
    });
    ws.addEventListener('close', function () {
      status('Disconnected; reconnecting in ' + (backoff / 1000) + ' s');
      setTimeout(function () { connect(true); }, backoff);
      backoff = Math.min(backoff * 2, 10000);
    });
  }

  $('chat-login').addEventListener('submit', function (e) {
    e.preventDefault();
    name = $('chat-name').value.trim();
    if (!name) return;
    if (ws && ws.readyState === WebSocket.OPEN) send({ type: 'hello', name: name });
    else connect(false);
  });
  $('create-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var c = $('new-channel').value.trim();
    if (c && send({ type: 'create', channel: c })) $('new-channel').value = '';
  });
  $('send-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var t = $('text').value;
    if (t && current) send({ type: 'message', channel: current, text: t });
  });
  if (user) connect(false);
})();
