// desde-cero's deck: keys, the URL's hash, the speaker view, and a self-test. No library, no
// request: everything is in this one file (the page's CSP forbids anything else).
(function () {
  'use strict';
  var errors = [];
  var violations = [];
  var realError = console.error;
  console.error = function () {
    errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    realError.apply(console, arguments);
  };
  window.addEventListener('error', function (e) { errors.push('error: ' + e.message); });
  window.addEventListener('unhandledrejection', function (e) {
    errors.push('unhandled rejection: ' + e.reason);
  });
  document.addEventListener('securitypolicyviolation', function (e) {
    violations.push(e.violatedDirective + ' ' + e.blockedURI);
  });

  var words = JSON.parse(document.body.getAttribute('data-words'));
  // A route's deck carries its plan: each stage's slide, planned start and length (seconds).
  var plan = document.body.hasAttribute('data-plan') ?
    JSON.parse(document.body.getAttribute('data-plan')) : null;
  var slides = [].slice.call(document.querySelectorAll('section.slide'));
  var pages = [];
  slides.forEach(function (s, i) {
    var ps = s.querySelectorAll('.page');
    for (var j = 0; j < ps.length; j++) {
      pages.push({ el: ps[j], slide: i, page: j + 1, count: ps.length });
    }
  });
  var at = -1;
  var mode = location.hash.replace(/^#/, '').split('&');
  var speakerMode = mode.indexOf('speaker') >= 0;
  var selftestMode = mode.indexOf('selftest') >= 0;

  function idOf(k) {
    var p = pages[k];
    return p.page === 1 ? String(p.slide) : p.slide + '.' + p.page;
  }
  // '#4' is stage 4's first page, '#4.3' its third; anything else is -1.
  function find(hash) {
    var m = /^#?(\d+)(?:\.(\d+))?$/.exec(hash);
    if (!m) return -1;
    var slide = +m[1], page = m[2] ? +m[2] : 1;
    for (var k = 0; k < pages.length; k++) {
      if (pages[k].slide === slide && pages[k].page === page) return k;
    }
    return -1;
  }

  // --- The speaker window and the audience's, kept in step. postMessage between the two
  // windows (it works from file://, where origins are opaque), and a BroadcastChannel where
  // the browser allows one, so a reloaded window finds the other again.
  var speakerWin = null;
  var channel = null;
  try { channel = new BroadcastChannel('desde-cero-deck'); } catch (e) { channel = null; }
  function send(msg) {
    msg.deck = 'desde-cero';
    var targets = [speakerWin, window.opener];
    for (var i = 0; i < targets.length; i++) {
      var t = targets[i];
      if (t && t !== window && !t.closed) {
        try { t.postMessage(msg, '*'); } catch (e) { /* the other window went away */ }
      }
    }
    if (channel) { try { channel.postMessage(msg); } catch (e) { channel = null; } }
  }
  var acks = [];
  function receive(msg) {
    if (!msg || msg.deck !== 'desde-cero') return;
    if (speakerMode) {
      if (msg.type === 'state') {
        showSpeaker(msg.at);
        send({ type: 'ack', at: msg.at, notes: notesLength, standing: standing() });
      }
    } else {
      if (msg.type === 'hello') send({ type: 'state', at: at });
      else if (msg.type === 'go') show(msg.at);
      else if (msg.type === 'ack') acks.push(msg);
    }
  }
  window.addEventListener('message', function (e) { receive(e.data); });
  if (channel) channel.onmessage = function (e) { receive(e.data); };

  // --- The audience's view.
  var progress = document.getElementById('progress');
  function show(k) {
    if (speakerMode) { send({ type: 'go', at: Math.max(0, Math.min(pages.length - 1, k)) }); return; }
    k = Math.max(0, Math.min(pages.length - 1, k));
    if (at >= 0) pages[at].el.classList.remove('current');
    at = k;
    pages[at].el.classList.add('current');
    var hash = '#' + idOf(at);
    if (location.hash !== hash && !selftestMode) {
      try { history.replaceState(null, '', hash); } catch (e) { location.hash = hash; }
    } else if (selftestMode) {
      try { history.replaceState(null, '', hash + '&selftest'); } catch (e) { /* kept */ }
    }
    progress.style.width = (100 * at / Math.max(1, pages.length - 1)) + '%';
    document.title = pages[at].el.getAttribute('data-label');
    send({ type: 'state', at: at });
  }
  function nextSlide(dir) {
    var s = pages[current()].slide + dir;
    for (var k = 0; k < pages.length; k++) if (pages[k].slide === s) return k;
    return dir > 0 ? pages.length - 1 : 0;
  }
  function current() { return speakerMode ? speakerAt : at; }

  var jump = document.getElementById('jump');
  var typed = '';
  var toast = document.getElementById('toast');
  function say(text) {
    toast.textContent = text;
    toast.hidden = false;
    setTimeout(function () { toast.hidden = true; }, 4000);
  }
  function openSpeaker() {
    var url = location.href.split('#')[0] + '#speaker';
    speakerWin = window.open(url, 'desde-cero-speaker', 'width=1200,height=760');
    if (!speakerWin) say(words.blocked);
    return speakerWin;
  }
  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var k = e.key;
    var here = current();
    if (/^[0-9]$/.test(k)) {
      typed += k;
      jump.textContent = typed;
      jump.hidden = false;
      e.preventDefault();
      return;
    }
    if (k === 'Enter' && typed) {
      var n = +typed;
      typed = '';
      jump.hidden = true;
      var target = find('#' + n);
      if (target >= 0) show(target);
      e.preventDefault();
      return;
    }
    if (k === 'Escape' || k === 'Backspace') { typed = ''; jump.hidden = true; }
    switch (k) {
      case 'ArrowRight': case 'ArrowDown': case 'PageDown': case ' ': case 'Enter':
        show(here + 1); break;
      case 'ArrowLeft': case 'ArrowUp': case 'PageUp':
        show(here - 1); break;
      case 'Home': show(0); break;
      case 'End': show(pages.length - 1); break;
      case 'n': show(nextSlide(1)); break;
      case 'b': show(nextSlide(-1)); break;
      case 's': if (!speakerMode) openSpeaker(); break;
      case 'f':
        if (!document.fullscreenElement && document.documentElement.requestFullscreen) {
          document.documentElement.requestFullscreen().catch(function () {});
        } else if (document.exitFullscreen) { document.exitFullscreen().catch(function () {}); }
        break;
      case 't': if (speakerMode) resetTimer(); break;
      case 'p': if (speakerMode) pauseTimer(); break;
      default: return;
    }
    e.preventDefault();
  }
  document.addEventListener('keydown', onKey);
  window.addEventListener('hashchange', function () {
    var k = find(location.hash);
    if (k >= 0 && k !== at) show(k);
  });

  // --- The speaker view: where the talk is, what comes next, the stage's notes, a timer.
  var speakerAt = 0, notesLength = 0;
  var started = Date.now(), pausedAt = null;
  // When each planned stage was first shown, in seconds from the start.
  var entered = {};
  function resetTimer() {
    started = Date.now(); if (pausedAt) pausedAt = started;
    entered = {}; enter(); tick();
  }
  function mmss(s) { s = Math.floor(s); return Math.floor(s / 60) + ':' + (s % 60 < 10 ? '0' : '') + s % 60; }
  function stopOf(slide) {
    if (!plan) return -1;
    for (var i = 0; i < plan.stops.length; i++) if (plan.stops[i].slide === slide) return i;
    return -1;
  }
  function elapsed() { return ((pausedAt || Date.now()) - started) / 1000; }
  function enter() {
    var i = stopOf(pages[speakerAt].slide);
    if (i >= 0 && !(i in entered)) entered[i] = elapsed();
  }
  // Where the talk stands against the plan, as `present` says it: the stage, the time spent
  // of the plan's, and how late (how late the stage began, plus any time spent in it over its
  // length; '-' when early). Before the first stage and after the last, the nearest one's.
  function standing() {
    if (!plan) return '';
    var slide = pages[speakerAt].slide;
    var i = stopOf(slide);
    if (i < 0) i = slide === 0 ? 0 : plan.stops.length - 1;
    var stop = plan.stops[i], now = elapsed();
    var at = i in entered ? entered[i] : now;
    var late = Math.round(at - stop.start + Math.max(0, now - at - stop.length));
    return stop.stage + ' · ' + mmss(now) + ' ' + words.of + ' ' + mmss(plan.total) + ' · ' +
      (late < 0 ? '-' : '+') + mmss(Math.abs(late));
  }
  function pauseTimer() {
    if (pausedAt) { started += Date.now() - pausedAt; pausedAt = null; } else { pausedAt = Date.now(); }
    tick();
  }
  function tick() {
    var el = document.getElementById('clock');
    if (!el) return;
    var ms = (pausedAt || Date.now()) - started;
    var s = Math.floor(ms / 1000);
    var mm = Math.floor(s / 60), ss = s % 60;
    el.textContent = (mm < 10 ? '0' : '') + mm + ':' + (ss < 10 ? '0' : '') + ss;
    el.className = 'clock' + (pausedAt ? ' paused' : '');
    var st = document.getElementById('standing');
    if (st) st.textContent = standing();
  }
  function frame(id, k, width) {
    var box = document.getElementById(id);
    box.textContent = '';
    if (k >= pages.length) { box.style.height = '0'; return; }
    var copy = pages[k].el.cloneNode(true);
    copy.classList.add('current');
    box.appendChild(copy);
    var rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
    var scale = width / (80 * rem);
    copy.style.transform = 'scale(' + scale + ')';
    box.style.width = width + 'px';
    box.style.height = (45 * rem * scale) + 'px';
  }
  function showSpeaker(k) {
    speakerAt = Math.max(0, Math.min(pages.length - 1, k));
    enter();
    tick();
    var p = pages[speakerAt];
    document.getElementById('where').textContent =
      p.el.getAttribute('data-label') + '  (' + idOf(speakerAt) + ')';
    var w = document.getElementById('speaker').clientWidth;
    frame('now', speakerAt, Math.max(200, w * 0.52));
    frame('next', speakerAt + 1, Math.max(160, w * 0.32));
    document.getElementById('next-label').textContent = words.next + ': ' +
      (speakerAt + 1 < pages.length ? pages[speakerAt + 1].el.getAttribute('data-label') : words.end);
    var notes = slides[p.slide].querySelector('.notes');
    var text = document.getElementById('notes-text');
    text.innerHTML = notes ? notes.innerHTML : '';
    notesLength = text.textContent.length;
    document.title = words.speaker + ' — ' + p.el.getAttribute('data-label');
  }
  function startSpeaker() {
    document.body.classList.add('speaker-mode');
    var el = document.createElement('div');
    el.id = 'speaker';
    el.innerHTML =
      '<div class="bar"><span id="clock" class="clock">00:00</span>' +
      (plan ? '<span id="standing" class="standing"></span>' : '') +
      '<span id="where" class="where"></span><span class="hint"></span></div>' +
      '<div><div class="label"></div><div id="now" class="frame"></div>' +
      '<div id="next-label" class="label"></div><div id="next" class="frame"></div></div>' +
      '<div id="notes-text" class="notes-text"></div>';
    document.body.appendChild(el);
    el.querySelector('.hint').textContent = words.elapsed + ' · ' + words.keys;
    el.querySelector('.label').textContent = words.now;
    showSpeaker(0);
    // The previews are scaled to the window: again whenever it changes size.
    window.addEventListener('resize', function () { showSpeaker(speakerAt); });
    setInterval(tick, 500);
    tick();
    send({ type: 'hello' });
  }

  // --- The self-test (#selftest): walks every page by real key events, measures that no page
  // overflows at this window's size, and writes a JSON verdict into the page for the test
  // suite to read (`chromium --headless --dump-dom`).
  function press(key) {
    document.dispatchEvent(new KeyboardEvent('keydown', { key: key, bubbles: true, cancelable: true }));
  }
  function describe(el) {
    var s = el.tagName.toLowerCase();
    if (el.className && typeof el.className === 'string') s += '.' + el.className.split(' ').join('.');
    return s;
  }
  function overflow(page) {
    var bad = [];
    var all = [page].concat([].slice.call(page.querySelectorAll('*')));
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      var cs = getComputedStyle(el);
      if (cs.display === 'inline' || cs.display === 'none' || el.closest('.notes')) continue;
      if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1) {
        bad.push(describe(el) + ' ' + el.scrollWidth + 'x' + el.scrollHeight + ' in ' +
          el.clientWidth + 'x' + el.clientHeight);
      }
    }
    var r = page.getBoundingClientRect();
    if (r.left < -1 || r.top < -1 || r.right > innerWidth + 1 || r.bottom > innerHeight + 1) {
      bad.push('page outside the window: ' + JSON.stringify([r.left, r.top, r.right, r.bottom]));
    }
    // Every child box inside the page's padding box.
    var kids = page.querySelectorAll('header, .listing, .picture, .cols, table, .toc, .rest');
    for (var j = 0; j < kids.length; j++) {
      var kr = kids[j].getBoundingClientRect();
      if (kr.bottom > r.bottom + 1 || kr.right > r.right + 1) {
        bad.push(describe(kids[j]) + ' ends outside the page');
      }
    }
    return bad;
  }
  function selftest() {
    var v = {
      window: [innerWidth, innerHeight], slides: slides.length, pages: pages.length,
      stages: +document.body.getAttribute('data-stages'), visited: [], overflow: {},
      navigation: [], errors: errors, violations: violations, requests: [], speaker: null
    };
    function check(what, ok) { if (!ok) v.navigation.push(what); }
    press('Home');
    check('Home goes to the first page', at === 0);
    var keys = ['ArrowRight', ' ', 'PageDown', 'ArrowDown', 'Enter'];
    for (var i = 0; i < pages.length; i++) {
      v.visited.push(idOf(at));
      var bad = overflow(pages[at].el);
      if (bad.length) v.overflow[idOf(at)] = bad;
      var before = at;
      press(keys[i % keys.length]);
      if (i < pages.length - 1) check(keys[i % keys.length] + ' from ' + idOf(before) + ' goes on', at === before + 1);
    }
    check('the last page stays the last', at === pages.length - 1);
    press('ArrowLeft');
    check('ArrowLeft goes back', at === pages.length - 2);
    press('PageUp');
    check('PageUp goes back', at === pages.length - 3);
    press('End');
    check('End goes to the last page', at === pages.length - 1);
    press('Home');
    check('Home again', at === 0);
    // Stage 12 of the whole deck; of a shorter one (a route's), its last stage.
    var target = Math.min(12, slides.length - 2);
    String(target).split('').forEach(press); press('Enter');
    check(String(target).split('').join(' ') + ' Enter goes to stage ' + target,
      pages[at].slide === target && pages[at].page === 1);
    check('the hash follows the slide: ' + location.hash, location.hash === '#' + target + '&selftest');
    press('n');
    check('n goes to the next slide', pages[at].slide === target + 1 && pages[at].page === 1);
    press('b');
    check('b goes to the slide before', pages[at].slide === target && pages[at].page === 1);
    location.hash = '#3.2';
    setTimeout(function () {
      check('a hash typed in the URL is followed', pages[at].slide === 3 && pages[at].page === 2);
      // The speaker view: a second window of the same file, kept in step.
      var win = openSpeaker();
      var waited = 0;
      var goal = find('#5.2');
      function finish() {
        v.requests = performance.getEntriesByType('resource').map(function (r) { return r.name; });
        if (win && !win.closed) win.close();
        var out = document.createElement('pre');
        out.id = 'selftest-verdict';
        out.textContent = JSON.stringify(v);
        document.body.appendChild(out);
      }
      if (!win) { v.speaker = 'the pop-up was blocked'; finish(); return; }
      var step = 0;
      (function poll() {
        waited += 100;
        var last = acks[acks.length - 1];
        if (step === 0 && last && last.at === at) { step = 1; show(goal); }
        if (step === 1 && last && last.at === goal) {
          v.speaker = { in_step: true, at: idOf(last.at), notes_chars: last.notes, standing: last.standing };
          return finish();
        }
        if (waited > 8000) {
          v.speaker = 'no answer from the speaker window (acks: ' + JSON.stringify(acks) + ')';
          return finish();
        }
        setTimeout(poll, 100);
      })();
    }, 50);
  }

  if (speakerMode) {
    startSpeaker();
  } else {
    var start = find(location.hash.split('&')[0]);
    show(start >= 0 ? start : 0);
    if (selftestMode) setTimeout(selftest, 100);
  }
})();
