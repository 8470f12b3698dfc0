/* Devices: every device by building and floor — online/offline, shelved,
 * battery, last values with their quality; filters by text, building and
 * state (kept while the console is open). Values are polled every 5 s;
 * online/offline changes also come from the stream. */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var t = function (k, v) { return GW.i18n.t(k, v); };
	var POLL_MS = 5000;

	var filter = { text: '', building: '', state: '' };
	var devices = [];
	var root = null, body = null, summary = null, bsel = null, bsig = null, timer = null, loaded = false;

	var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

	function load() {
		return GW.api.get('/api/v1/devices').then(function (data) {
			devices = (data && data.devices) || [];
			loaded = true;
			draw();
		}, function (err) {
			if (!loaded && body) GW.dom.replace(body, GW.ui.failed(err, load));
		});
	}

	function alarmed() {
		var m = {};
		GW.app.state.incidents.forEach(function (i) { if (i.device && i.active !== false) m[i.device] = Math.min(m[i.device] || 9, Number(i.severity) || 9); });
		return m;
	}

	function stateOf(d) {
		if (d.online === true) return 'online';
		if (d.online === false) return 'offline';
		return 'unknown';
	}

	function matches(d, alarms) {
		if (filter.building && String((d.location && d.location.building) || '') !== filter.building) return false;
		if (filter.state) {
			if (filter.state === 'shelved') { if (!GW.ui.isShelved(d)) return false; }
			else if (filter.state === 'alarm') { if (!alarms[d.id]) return false; }
			else if (stateOf(d) !== filter.state) return false;
		}
		if (filter.text) {
			var loc = d.location || {};
			var hay = [d.id, d.profile, d.kind, GW.i18n.kindLabel(d.kind), loc.building, loc.entrance, loc.floor, loc.room, loc.place, GW.fmt.location(loc)]
				.join(' ').toLowerCase();
			if (hay.indexOf(filter.text.toLowerCase()) < 0) return false;
		}
		return true;
	}

	function pointChip(name, p) {
		var good = p.quality === 'good' || p.quality === undefined;
		var txt = GW.i18n.pointLabel(name) + ' ' + GW.fmt.pointValue(name, p);
		var on = GW.fmt.isBool(name, p) && !!p.value && /alarm|fault|tamper|open|ebike/.test(name);
		var c = h('span', { class: 'pv' + (good ? '' : ' pv-bad') + (on ? ' pv-on' : '') }, txt);
		if (!good) c.appendChild(h('span', { class: 'pv-q' }, GW.i18n.qualityLabel(p.quality)));
		c.title = name + (p.ts ? ' · ' + GW.fmt.dateTime(p.ts) : '');
		return c;
	}

	function battery(d) {
		var b = d.points && d.points.battery;
		if (!b || typeof b.value !== 'number') return null;
		var v = Math.max(0, Math.min(100, b.value));
		var low = v < 20;
		return h('span', { class: 'batt' + (low ? ' batt-low' : '') + (b.quality && b.quality !== 'good' ? ' batt-stale' : ''), title: t('battery') },
			GW.dom.svg('svg', { class: 'batt-icon', width: 26, height: 14, viewBox: '0 0 26 14', 'aria-hidden': 'true' },
				GW.dom.svg('rect', { x: 0.5, y: 0.5, width: 22, height: 13, rx: 2, class: 'batt-shell' }),
				GW.dom.svg('rect', { x: 23, y: 4, width: 3, height: 6, rx: 1, class: 'batt-tip' }),
				GW.dom.svg('rect', { x: 2, y: 2, width: Math.max(1, 19 * v / 100).toFixed(1), height: 10, rx: 1, class: 'batt-fill' })),
			Math.round(b.value) + '%');
	}

	function devRow(d, alarms) {
		var st = stateOf(d);
		var loc = d.location || {};
		var sub = [];
		if (loc.entrance !== undefined && loc.entrance !== null && loc.entrance !== '') sub.push(t('loc.entrance', { v: loc.entrance }));
		if (loc.room !== undefined && loc.room !== null && loc.room !== '') sub.push(t('loc.room', { v: loc.room }));
		if (loc.place) sub.push(String(loc.place));
		var names = Object.keys(d.points || {}).filter(function (n) { return n !== 'battery'; });
		var href = '#/device/' + encodeURIComponent(d.id);
		var el = h('div', { class: 'dev dev-' + st + (alarms[d.id] ? ' dev-alarm' : ''), data: { deviceId: d.id, state: st } },
			h('span', { class: 'dot dot-' + st, title: t('st.' + st) }),
			h('div', { class: 'dev-main' },
				h('div', { class: 'dev-head' },
					h('a', { class: 'dev-id mono', href: href }, d.id),
					h('span', { class: 'dev-kind' }, GW.i18n.kindLabel(d.kind || d.profile))),
				h('div', { class: 'dev-loc' }, h('span', {}, sub.join(GW.i18n.lang === 'zh' ? ' ' : ', ') || GW.fmt.location(loc)), battery(d))),
			h('div', { class: 'dev-state' },
				GW.ui.chip(t('st.' + st), st === 'online' ? 'chip-ok' : st === 'offline' ? 'chip-bad' : 'chip-muted'),
				alarms[d.id] ? GW.ui.chip(t('st.alarm'), 'chip-alarm chip-sev-' + alarms[d.id]) : null,
				GW.ui.isShelved(d) ? GW.ui.chip(t('shelved.until', { t: GW.fmt.short(d.shelved_until) }), 'chip-muted') : null),
			h('div', { class: 'dev-vals' }, names.slice(0, 5).map(function (n) { return pointChip(n, d.points[n]); })),
			GW.ui.deviceActions(d, true));
		el.addEventListener('click', function (e) {
			if (e.target.closest('a, button')) return;
			GW.app.go(href);
		});
		return el;
	}

	function draw() {
		if (!body || !loaded) return;
		var alarms = alarmed();
		/* building choices from all devices */
		var bs = {};
		devices.forEach(function (d) { var b = d.location && d.location.building; if (b !== undefined && b !== null && b !== '') bs[b] = true; });
		var blist = Object.keys(bs).sort(collator.compare);
		var sig = blist.join('\u0000');
		if (sig !== bsig) { /* rebuilding an open <select> would close it */
			bsig = sig;
			var cur = filter.building;
			GW.dom.replace(bsel, h('option', { value: '' }, t('filter.building') + ': ' + t('filter.all')),
				blist.map(function (b) { return h('option', { value: b, selected: b === cur }, t('loc.building', { v: b })); }));
			bsel.value = blist.indexOf(cur) >= 0 ? cur : '';
			filter.building = bsel.value;
		}

		var shown = devices.filter(function (d) { return matches(d, alarms); });
		var on = devices.filter(function (d) { return d.online === true; }).length;
		var off = devices.filter(function (d) { return d.online === false; }).length;
		summary.textContent = t('devices.summary', { n: devices.length, on: on, off: off });

		/* building -> floor -> devices */
		var groups = {};
		shown.forEach(function (d) {
			var loc = d.location || {};
			var b = loc.building !== undefined && loc.building !== null && loc.building !== '' ? String(loc.building) : '';
			var f = loc.floor !== undefined && loc.floor !== null && loc.floor !== '' ? String(loc.floor) : '';
			groups[b] = groups[b] || {};
			(groups[b][f] = groups[b][f] || []).push(d);
		});
		var bkeys = Object.keys(groups).sort(function (a, b) {
			if (a === '') return 1;
			if (b === '') return -1;
			return collator.compare(a, b);
		});
		if (!shown.length) {
			GW.dom.replace(body, h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, t('devices.none'))));
			return;
		}
		GW.dom.replace(body, bkeys.map(function (b) {
			var floors = groups[b];
			var all = [];
			Object.keys(floors).forEach(function (f) { all = all.concat(floors[f]); });
			var offN = all.filter(function (d) { return d.online === false; }).length;
			var fkeys = Object.keys(floors).sort(function (x, y) {
				if (x === '') return 1;
				if (y === '') return -1;
				return collator.compare(y, x); /* top floor first, as on a building's board */
			});
			return h('section', { class: 'bldg', data: { building: b } },
				h('h2', { class: 'bldg-head' },
					h('span', {}, b === '' ? t('loc.common') : t('loc.building', { v: b })),
					h('span', { class: 'bldg-counts' + (offN ? ' has-off' : '') }, t('group.counts', { n: all.length, off: offN }))),
				fkeys.map(function (f) {
					var devs = floors[f].sort(function (x, y) { return collator.compare(x.id, y.id); });
					return h('div', { class: 'floor' },
						(b !== '' || f !== '') ? h('h3', { class: 'floor-head' }, f === '' ? t('loc.nofloor') : t('loc.floor', { v: f })) : null,
						h('div', { class: 'dev-list' }, devs.map(function (d) { return devRow(d, alarms); })));
				}));
		}));
	}

	GW.pages = GW.pages || {};
	GW.pages.devices = {
		enter: function (el) {
			root = el;
			loaded = false;
			bsig = null;
			var text = h('input', {
				type: 'search', id: 'filter-text', name: 'q', value: filter.text, placeholder: t('filter.text'),
				'aria-label': t('filter.text'), autocomplete: 'off',
				on: { input: function () { filter.text = text.value.trim(); draw(); } }
			});
			bsel = h('select', { id: 'filter-building', 'aria-label': t('filter.building'), on: { change: function () { filter.building = bsel.value; draw(); } } });
			var ssel = h('select', {
				id: 'filter-state', 'aria-label': t('filter.state'),
				on: { change: function () { filter.state = ssel.value; draw(); } }
			}, h('option', { value: '' }, t('filter.state') + ': ' + t('filter.all')),
				['alarm', 'offline', 'online', 'shelved'].map(function (s) {
					return h('option', { value: s, selected: filter.state === s }, t('st.' + s));
				}));
			summary = h('span', { class: 'page-sub' });
			body = h('div', { class: 'dev-groups', id: 'device-list' }, GW.ui.loading());
			GW.dom.append(root, [
				h('div', { class: 'page-head' }, h('h1', {}, t('devices.title')), summary),
				h('div', { class: 'filters' }, text, bsel, ssel),
				body]);
			load();
			timer = window.setInterval(load, POLL_MS);
		},
		leave: function () {
			if (timer) window.clearInterval(timer);
			timer = null; root = null; body = null;
		},
		incidents: function () { draw(); },
		device: function (ev) {
			devices.forEach(function (d) { if (d.id === ev.id && ev.online !== undefined) d.online = ev.online; });
			draw();
		},
		refresh: function () { load(); }
	};
})(window.GW = window.GW || {});
