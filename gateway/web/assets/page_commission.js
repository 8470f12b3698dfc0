/* Commissioning (installers): what an installer on site checks before
 * handing a gateway over — every device with its bus, unit id and register
 * map, a live read of each (raw registers, through the device's bus thread),
 * the `gridgw check` warnings of the running configuration, the buses'
 * link state, and a test message per notification channel. Device states
 * are polled every 5 s; a read stays open until closed or repeated. */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var t = function (k, v) { return GW.i18n.t(k, v); };
	var POLL_MS = 5000;

	var root = null, body = null, readBox = null, timer = null, devices = null, st = null, filter = '';

	function load() {
		return Promise.all([GW.api.get('/api/v1/devices'), GW.api.get('/api/v1/status')]).then(function (r) {
			devices = (r[0] && r[0].devices) || [];
			st = r[1] || {};
			draw();
		}, function (err) {
			if (body && !devices) GW.dom.replace(body, GW.ui.failed(err, load));
		});
	}

	function busOf(d) {
		if (d.bus) return t('commission.bus', { bus: d.bus, unit: d.unit !== undefined ? d.unit : '?' });
		if (d.source) return t('commission.source', { src: d.source });
		return t('dash');
	}

	function deviceRows() {
		var q = filter.trim().toLowerCase();
		var list = devices.filter(function (d) {
			if (!q) return true;
			return [d.id, d.profile, d.bus, d.source, GW.fmt.location(d.location)].join(' ').toLowerCase().indexOf(q) >= 0;
		});
		return list.map(function (d) {
			var stc = d.online === true ? 'online' : d.online === false ? 'offline' : 'unknown';
			return h('tr', { data: { deviceId: d.id } },
				h('td', { class: 'nowrap' }, h('span', { class: 'dot dot-' + stc }), ' ', h('a', { class: 'mono', href: '#/device/' + encodeURIComponent(d.id) }, d.id)),
				h('td', { class: 'hide-narrow' }, d.profile || t('dash')),
				h('td', { class: 'mono nowrap' }, busOf(d)),
				h('td', { class: 'hide-narrow' }, GW.fmt.location(d.location) || t('dash')),
				h('td', { class: 'hide-narrow' }, GW.ui.chip(t('st.' + stc), stc === 'online' ? 'chip-ok' : stc === 'offline' ? 'chip-bad' : 'chip-muted')),
				h('td', {}, GW.ui.actionButton('read', t('action.read'), function () {
					GW.read.run(d.id, readBox);
					readBox.scrollIntoView({ block: 'nearest' });
				}, 'btn-small')));
		});
	}

	function warnings() {
		var w = (st && st.config_warnings) || [];
		return h('section', { class: 'panel', id: 'config-warnings', data: { count: w.length } },
			h('h2', {}, t('commission.warnings'), ' ', h('span', { class: 'badge' + (w.length ? ' badge-sev-3' : '') }, String(w.length))),
			w.length ? h('ul', { class: 'warn-list mono' }, w.map(function (x) { return h('li', {}, x); }))
				: h('p', { class: 'muted' }, t('commission.warnings.none')));
	}

	function buses() {
		var list = (st && st.buses) || [];
		if (!list.length) return null;
		return h('div', { class: 'chips commission-buses' }, list.map(function (b) {
			return GW.ui.chip(b.name + ' · ' + (b.link_up ? t('link.up') : t('link.down')) + ' · ' + b.online + '/' + b.devices,
				b.link_up ? 'chip-ok' : 'chip-bad');
		}));
	}

	function channels() {
		var n = st && st.notify;
		var list = n && Array.isArray(n.channels) ? n.channels : [];
		return h('section', { class: 'panel', id: 'commission-notify' }, h('h2', {}, t('system.notify')),
			list.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
				h('thead', {}, h('tr', {}, h('th', {}, t('col.name')), h('th', {}, t('col.type')), h('th', {}, t('col.sent')), h('th', {}, t('col.failed')), h('th', {}, ''))),
				h('tbody', {}, list.map(function (c) {
					var result = h('div', { class: 'test-result muted', data: { channel: c.name } });
					return h('tr', { data: { channel: c.name } },
						h('td', { class: 'mono' }, c.name), h('td', {}, GW.i18n.channelLabel(c.type)),
						h('td', {}, String(c.sent || 0)), h('td', {}, String(c.failed || 0)),
						h('td', {}, GW.ui.actionButton('test', t('action.test'), function () { sendTest(c.name, result); }, 'btn-small'), result));
				})))) : h('p', { class: 'muted' }, t('system.notify.none')));
	}

	/* The channel API's own answer is shown, as `gridgw notify test` prints it. */
	function sendTest(name, box) {
		box.textContent = t('commission.testing');
		box.className = 'test-result muted';
		GW.api.post('/api/v1/notify/test', { channel: name }).then(function (res) {
			box.textContent = t('commission.test.ok', { status: res.status, answer: res.answer || '' });
			box.className = 'test-result test-ok';
			box.dataset.ok = '1';
		}, function (err) {
			var d = err.data || {};
			box.textContent = t('commission.test.failed', { msg: d.error || GW.api.errorText(err), answer: d.answer || '' });
			box.className = 'test-result test-failed';
			box.dataset.ok = '0';
		});
	}

	var devBox = null, rest = null;
	function draw() {
		if (!body || !devices) return;
		if (!devBox) {
			var search = h('input', { type: 'search', class: 'search', placeholder: t('commission.filter'), value: filter,
				on: { input: function (e) { filter = e.target.value; drawDevices(); } } });
			devBox = h('div', { class: 'table-wrap' });
			rest = h('div', {});
			GW.dom.replace(body,
				h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', {}, t('commission.devices')), search),
					h('p', { class: 'muted' }, t('commission.hint')), h('div', { id: 'commission-buses' }), devBox),
				readBox, rest);
		}
		drawDevices();
		GW.dom.replace(body.querySelector('#commission-buses'), buses());
		/* Channels are redrawn only when their list changes: a test result stays. */
		var names = ((st.notify && st.notify.channels) || []).map(function (c) { return c.name; }).join(',');
		if (rest.dataset.channels !== names || !rest.firstChild) {
			rest.dataset.channels = names;
			GW.dom.replace(rest, warnings(), channels());
		} else {
			rest.replaceChild(warnings(), rest.firstChild);
		}
	}

	function drawDevices() {
		GW.dom.replace(devBox, h('table', { class: 'table', id: 'commission-devices' },
			h('thead', {}, h('tr', {}, h('th', {}, t('col.device')), h('th', { class: 'hide-narrow' }, t('device.profile')), h('th', {}, t('commission.col.bus')),
				h('th', { class: 'hide-narrow' }, t('device.location')), h('th', { class: 'hide-narrow' }, t('col.state')), h('th', {}, ''))),
			h('tbody', {}, deviceRows())));
	}

	GW.pages = GW.pages || {};
	GW.pages.commission = {
		enter: function (el) {
			root = el; devices = null; st = null; devBox = null; rest = null;
			if (!GW.api.can('install')) {
				GW.dom.append(root, [h('div', { class: 'panel panel-error' }, t('err.forbidden'))]);
				return;
			}
			readBox = h('div', { class: 'panel read-box', id: 'live-read', hidden: true });
			body = h('div', { id: 'commission' }, GW.ui.loading());
			GW.dom.append(root, [h('div', { class: 'page-head' }, h('h1', {}, t('commission.title'))), body]);
			load();
			timer = window.setInterval(load, POLL_MS);
		},
		leave: function () { window.clearInterval(timer); timer = null; root = null; body = null; devBox = null; },
		device: function () { load(); },
		refresh: function () { load(); }
	};
})(window.GW = window.GW || {});
