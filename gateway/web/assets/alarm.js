/* alarm — the annunciator: a full-width red banner while any severity-1
 * incident is active and not acknowledged; it flashes, and a tone sounds
 * every few seconds, while one of them is new (not yet silenced). The tone is
 * made with WebAudio (no sound file). Browsers allow audio only after a user
 * gesture, so the first click or key press anywhere unlocks it; until then
 * the banner says so. The banner's data-sounds counts tones played (tests
 * and people can tell it really sounded). */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var REPEAT_MS = 5000;

	var ctx = null;
	var urgent = [];          /* open, active, unacked, severity 1; newest first */
	var silenced = {};        /* incident id -> true */
	var timer = null;
	var sounds = 0;

	function audio() {
		if (ctx) return ctx;
		var AC = window.AudioContext || window.webkitAudioContext;
		if (!AC) return null;
		try { ctx = new AC(); } catch (e) { ctx = null; }
		return ctx;
	}

	function unlocked() { return !!(ctx && ctx.state === 'running'); }

	function unlock() {
		var c = audio();
		if (!c) return;
		if (c.state !== 'running') {
			c.resume().then(function () { render(); tick(); }, function () { /* still locked */ });
		}
	}

	/* Two-tone, three times: unmistakable but short. */
	function tone() {
		var c = audio();
		if (!c || c.state !== 'running') return false;
		var t0 = c.currentTime + 0.02;
		for (var i = 0; i < 6; i++) {
			var o = c.createOscillator();
			var g = c.createGain();
			var at = t0 + i * 0.22;
			o.type = 'square';
			o.frequency.setValueAtTime(i % 2 ? 660 : 960, at);
			g.gain.setValueAtTime(0.0001, at);
			g.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
			g.gain.exponentialRampToValueAtTime(0.0001, at + 0.2);
			o.connect(g);
			g.connect(c.destination);
			o.start(at);
			o.stop(at + 0.21);
		}
		sounds++;
		return true;
	}

	function alarming() {
		return urgent.some(function (inc) { return !silenced[inc.id]; });
	}

	function tick() {
		if (timer) { window.clearTimeout(timer); timer = null; }
		if (!alarming()) return;
		tone();
		render();
		timer = window.setTimeout(tick, REPEAT_MS);
	}

	function silence() {
		urgent.forEach(function (inc) { silenced[inc.id] = true; });
		if (timer) { window.clearTimeout(timer); timer = null; }
		render();
	}

	function render() {
		var el = document.getElementById('alarm-banner');
		if (!el) return;
		el.dataset.sounds = String(sounds);
		if (!urgent.length) {
			el.hidden = true;
			document.body.classList.remove('has-banner');
			GW.dom.clear(el);
			return;
		}
		var top = urgent[0];
		var flashing = alarming();
		el.className = 'alarm-banner' + (flashing ? ' flash' : '');
		el.dataset.incidentId = top.id;
		var loc = GW.fmt.location(top.location);
		GW.dom.replace(el,
			h('div', { class: 'banner-text' },
				h('strong', { class: 'banner-title' }, GW.t('banner.title')),
				h('span', { class: 'banner-what' }, GW.i18n.typeLabel(top.type)),
				loc ? h('span', { class: 'banner-where' }, loc) : null,
				urgent.length > 1 ? h('span', { class: 'banner-more' }, GW.t('banner.more', { n: urgent.length - 1 })) : null,
				flashing && !unlocked() ? h('span', { class: 'banner-hint' }, GW.t('banner.sound.locked')) : null),
			h('div', { class: 'banner-actions' },
				h('a', { class: 'btn btn-banner', href: '#/incident/' + encodeURIComponent(top.id) }, GW.t('banner.view')),
				h('button', {
					type: 'button', class: 'btn btn-banner', disabled: !flashing,
					on: { click: silence }
				}, flashing ? GW.t('banner.silence') : GW.t('banner.silenced'))));
		el.hidden = false;
		document.body.classList.add('has-banner');
	}

	/* incidents: the open incidents as the app knows them now. */
	function update(incidents) {
		var before = {};
		urgent.forEach(function (inc) { before[inc.id] = true; });
		urgent = incidents.filter(function (inc) {
			return Number(inc.severity) === 1 && inc.active !== false && !inc.acked;
		}).sort(function (a, b) {
			return (GW.fmt.parseTs(b.raised_at || b.first_ts) || 0) - (GW.fmt.parseTs(a.raised_at || a.first_ts) || 0);
		});
		var fresh = urgent.some(function (inc) { return !before[inc.id] && !silenced[inc.id]; });
		render();
		if (fresh) tick();
		else if (!alarming() && timer) { window.clearTimeout(timer); timer = null; }
	}

	function init() {
		['pointerdown', 'keydown', 'touchstart'].forEach(function (ev) {
			document.addEventListener(ev, unlock, { capture: true, passive: true });
		});
	}

	GW.alarm = { init: init, update: update, render: render, silence: silence };
})(window.GW = window.GW || {});
