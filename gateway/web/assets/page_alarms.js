/* Alarms: the open incidents, most severe first, then newest, live from the
 * event stream. Rows are keyed by incident id and rebuilt only when what they
 * show changed, so a live update does not steal the pointer or the focus;
 * ages tick through data-since. */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var t = function (k, v) { return GW.i18n.t(k, v); };

	var root = null, list = null, summary = null, shelvedBox = null;
	var rows = {};          /* id -> {sig, el} */
	var devices = {};       /* id -> device (for shelved state and location) */
	var devTimer = null, devEvery = 0;
	/* Devices are fetched every 30 s, and every 5 s while one is shelved: a
	 * technician blowing test smoke wants to see the suppressed alarm soon. */
	var DEV_SLOW_MS = 30000, DEV_SHELVED_MS = 5000;

	function schedule(ms) {
		if (devEvery === ms && devTimer) return;
		if (devTimer) window.clearInterval(devTimer);
		devEvery = ms;
		devTimer = window.setInterval(loadDevices, ms);
	}

	function loadDevices() {
		return GW.api.get('/api/v1/devices').then(function (data) {
			devices = {};
			((data && data.devices) || []).forEach(function (d) { devices[d.id] = d; });
			draw();
			if (root) schedule(drawShelved() ? DEV_SHELVED_MS : DEV_SLOW_MS);
		}, function () { /* rows show without shelve state */ });
	}

	function row(inc) {
		var dev = inc.device ? (devices[inc.device] || null) : undefined;
		var loc = GW.fmt.location(inc.location && Object.keys(inc.location).length ? inc.location : dev && dev.location);
		var href = '#/incident/' + encodeURIComponent(inc.id);
		var el = h('article', {
			class: 'inc sev-row-' + inc.severity + (inc.active === false ? ' inc-cleared' : '') + (inc.acked ? ' inc-acked' : ' inc-unacked'),
			data: { incidentId: inc.id, severity: inc.severity }
		},
			h('div', { class: 'inc-sev' }, GW.ui.sevChip(inc.severity)),
			h('div', { class: 'inc-main' },
				h('div', { class: 'inc-head' },
					h('a', { class: 'inc-type', href: href }, GW.i18n.typeLabel(inc.type)),
					loc ? h('span', { class: 'inc-loc' }, loc) : null),
				h('div', { class: 'inc-msg' },
					inc.message ? h('span', {}, inc.message) : null,
					inc.device ? h('a', { class: 'inc-dev mono', href: '#/device/' + encodeURIComponent(inc.device) }, inc.device) : null,
					inc.count > 1 ? h('span', { class: 'inc-count' }, t('count.times', { n: inc.count })) : null),
				h('div', { class: 'chips' }, GW.ui.stateChips(inc, dev)),
				GW.ui.notified(inc.notified)),
			h('div', { class: 'inc-age' },
				GW.ui.age(inc.raised_at || inc.first_ts),
				h('small', {}, t('since', { t: GW.fmt.dateTime(inc.raised_at || inc.first_ts) }))),
			GW.ui.incidentActions(inc, dev));
		el.addEventListener('click', function (e) {
			if (e.target.closest('a, button')) return;
			GW.app.go(href);
		});
		return el;
	}

	/* The shelved devices and what each suppressed; returns how many. */
	function drawShelved() {
		if (!shelvedBox) return 0;
		var ids = Object.keys(devices).filter(function (id) { return GW.ui.isShelved(devices[id]); }).sort();
		GW.dom.replace(shelvedBox, ids.length ? [
			h('h2', {}, t('shelved.title')),
			ids.map(function (id) {
				var d = devices[id];
				var loc = GW.fmt.location(d.location);
				return h('div', { class: 'shelved-dev', data: { deviceId: id } },
					h('div', { class: 'inc-head' },
						h('a', { class: 'inc-dev mono', href: '#/device/' + encodeURIComponent(id) }, id),
						loc ? h('span', { class: 'inc-loc' }, loc) : null,
						GW.ui.chip(t('shelved.until', { t: GW.fmt.short(d.shelved_until) }), 'chip-muted')),
					GW.ui.suppressed(d) || h('div', { class: 'suppressed suppressed-none' }, t('suppressed.none')));
			})] : []);
		shelvedBox.hidden = !ids.length;
		return ids.length;
	}

	function signature(inc) {
		var dev = inc.device ? devices[inc.device] : null;
		return JSON.stringify([inc, dev ? [dev.shelved_until, dev.location] : null, GW.i18n.lang]);
	}

	function draw() {
		if (!list) return;
		var incs = GW.app.state.incidents;
		var next = {};
		var els = incs.map(function (inc) {
			var sig = signature(inc);
			var r = rows[inc.id];
			if (!r || r.sig !== sig) r = { sig: sig, el: row(inc) };
			next[inc.id] = r;
			return r.el;
		});
		rows = next;
		/* Reorder only when needed: moving the focused element loses focus. */
		var same = els.length === list.children.length && els.every(function (e, i) { return list.children[i] === e; });
		if (!same) GW.dom.replace(list, els);
		list.hidden = !els.length;
		var empty = root.querySelector('.empty');
		if (empty) empty.hidden = els.length > 0;

		var bySev = { 1: 0, 2: 0, 3: 0, 4: 0 };
		incs.forEach(function (i) { if (bySev[i.severity] !== undefined) bySev[i.severity]++; });
		GW.dom.replace(summary,
			[1, 2, 3, 4].map(function (s) {
				return h('span', { class: 'sum sum-' + s + (bySev[s] ? '' : ' sum-zero') }, GW.i18n.sevLabel(s), h('b', {}, String(bySev[s])));
			}),
			h('span', { class: 'sum-total' }, t('alarms.count', { n: incs.length })));
	}

	GW.pages = GW.pages || {};
	GW.pages.alarms = {
		enter: function (el) {
			root = el;
			rows = {};
			summary = h('div', { class: 'summary', id: 'alarm-summary' });
			list = h('div', { class: 'inc-list', id: 'incident-list' });
			shelvedBox = h('section', { class: 'shelved-list', id: 'shelved-list', hidden: true });
			GW.dom.append(root, [
				h('div', { class: 'page-head' }, h('h1', {}, t('alarms.title')), summary),
				list,
				h('div', { class: 'empty', hidden: true },
					h('div', { class: 'empty-mark' }),
					h('p', { class: 'empty-title' }, t('alarms.none')),
					h('p', { class: 'empty-sub' }, t('alarms.none.sub'))),
				shelvedBox]);
			draw();
			GW.app.fetchIncidents();
			loadDevices();
			schedule(DEV_SLOW_MS);
		},
		leave: function () {
			if (devTimer) window.clearInterval(devTimer);
			devTimer = null; devEvery = 0; root = null; list = null; shelvedBox = null; rows = {};
		},
		incidents: function () { draw(); },
		device: function (ev) {
			if (ev && devices[ev.id] && ev.online !== undefined) devices[ev.id].online = ev.online;
		},
		refresh: function () { loadDevices(); }
	};
})(window.GW = window.GW || {});
