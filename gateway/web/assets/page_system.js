/* System: the figures of `gridgw status` — uplink, devices, open incidents,
 * outbox backlog, store size, Modbus buses, MQTT sources, notification
 * channels (installers can send a test message). Polled every 5 s. */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var t = function (k, v) { return GW.i18n.t(k, v); };
	var POLL_MS = 5000;

	var root = null, body = null, timer = null, st = null;

	function load() {
		return GW.api.get('/api/v1/status').then(function (s) {
			st = s;
			draw();
		}, function (err) {
			if (body && !st) GW.dom.replace(body, GW.ui.failed(err, load));
		});
	}

	function card(title, value, cls, extra) {
		return h('div', { class: 'card ' + (cls || '') }, h('div', { class: 'card-title' }, title), h('div', { class: 'card-value' }, value), extra || null);
	}

	function table(cols, rows) {
		return h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
			h('thead', {}, h('tr', {}, cols.map(function (c) { return h('th', {}, c); }))),
			h('tbody', {}, rows.map(function (r) { return h('tr', {}, r.map(function (c) { return h('td', {}, c); })); }))));
	}

	function storeSize(s) {
		var v = s.store_size_bytes !== undefined ? s.store_size_bytes
			: s.store_bytes !== undefined ? s.store_bytes
			: s.store && typeof s.store === 'object' ? (s.store.size_bytes !== undefined ? s.store.size_bytes : s.store.bytes)
			: s.store_size;
		if (v === undefined || v === null) return null;
		var txt = typeof v === 'number' ? GW.fmt.bytes(v) : String(v);
		var max = s.store && typeof s.store === 'object' ? (s.store.max_bytes || (s.store.max_size_mb ? s.store.max_size_mb * 1048576 : null)) : null;
		if (max && typeof v === 'number') txt += ' / ' + GW.fmt.bytes(max);
		return txt;
	}

	function notifyChannels(s) {
		var n = s.notify;
		if (!n) return null;
		var list = Array.isArray(n) ? n : Array.isArray(n.channels) ? n.channels : null;
		return list;
	}

	function testButton(name) {
		return GW.ui.actionButton('test', t('action.test'), function () {
			GW.api.post('/api/v1/notify/test', { channel: name }).then(function (res) {
				GW.ui.toast(name + ': ' + (res && res.ok === false ? (res.error || 'failed') : 'ok'), res && res.ok === false ? 'error' : 'ok');
			}, function (err) { GW.ui.toast(name + ': ' + GW.api.errorText(err), 'error'); });
		});
	}

	function draw() {
		if (!body || !st) return;
		var s = st;
		var up = s.uplink === 'up' || s.uplink === true || (s.uplink && s.uplink.state === 'up');
		var local = s.uplink === 'none' || s.uplink === 'local' || s.uplink === null;
		var downS = s.uplink_down_s || 0;
		var uplinkText = local ? t('system.uplink.local') : up ? t('system.uplink.up')
			: downS ? t('system.uplink.down_for', { d: GW.fmt.duration(downS * 1000) }) : t('system.uplink.down');
		var d = s.devices || {};
		var offline = d.offline_ids || [];
		var size = storeSize(s);
		var chans = notifyChannels(s);
		var mq = s.mqtt_sources || null;

		GW.dom.replace(body,
			h('div', { class: 'cards' },
				card(t('system.gateway'), s.gateway || t('dash'), '',
					h('div', { class: 'card-sub' }, t('system.version') + ' ' + (s.version || t('dash')) + ' · ' + t('system.uptime') + ' ' + GW.fmt.duration((s.uptime_s || 0) * 1000))),
				card(t('system.uplink'), uplinkText, local ? 'card-muted' : up ? 'card-ok' : 'card-bad'),
				card(t('system.devices'), t('system.devices.val', { on: d.online || 0, off: d.offline || 0, sh: d.shelved || 0 }), d.offline ? 'card-warn' : 'card-ok'),
				card(t('system.incidents'), String(s.open_incidents !== undefined ? s.open_incidents : GW.app.state.incidents.length), s.open_incidents ? 'card-warn' : ''),
				card(t('system.backlog'), t('system.backlog.val', { n: s.backlog || 0, seq: s.next_seq !== undefined ? s.next_seq : t('dash') }), s.backlog > 100 ? 'card-warn' : ''),
				size ? card(t('system.store'), size) : null),
			offline.length ? h('section', { class: 'panel' }, h('h2', {}, t('system.offline')),
				h('div', { class: 'chips' }, offline.map(function (id) {
					return h('a', { class: 'chip chip-bad mono', href: '#/device/' + encodeURIComponent(id) }, id);
				}))) : null,
			h('section', { class: 'panel' }, h('h2', {}, t('system.buses')),
				(s.buses || []).length ? table(
					[t('col.name'), t('col.link'), t('col.devices'), t('col.requests'), t('col.errors'), t('col.timeouts'), t('col.late')],
					s.buses.map(function (b) {
						return [h('span', { class: 'mono' }, b.name),
							GW.ui.chip(b.link_up ? t('link.up') : t('link.down'), b.link_up ? 'chip-ok' : 'chip-bad'),
							(b.online !== undefined ? b.online : '?') + ' / ' + (b.devices !== undefined ? b.devices : '?'),
							String(b.requests || 0), String(b.errors || 0), String(b.timeouts || 0),
							b.late_p99_us !== undefined ? GW.fmt.number(b.late_p99_us / 1000) + ' ms' : t('dash')];
					})) : h('p', { class: 'muted' }, t('none'))),
			h('section', { class: 'panel' }, h('h2', {}, t('system.sources')),
				(s.sources || []).length ? table(
					[t('col.name'), t('col.connected'), t('col.received'), t('col.lost')],
					s.sources.map(function (x) {
						return [h('span', { class: 'mono' }, x.name),
							GW.ui.chip(x.connected ? t('link.up') : t('link.down'), x.connected ? 'chip-ok' : 'chip-bad'),
							String(x.received || 0), String(x.lost || 0)];
					})) : h('p', { class: 'muted' }, t('none')),
				mq ? h('p', { class: 'muted' }, t('mqtt.counters', { m: mq.messages || 0, p: mq.points || 0, bad: mq.malformed || 0, unk: mq.unknown_device || 0 })) : null),
			h('section', { class: 'panel' }, h('h2', {}, t('system.notify')),
				chans && chans.length ? table(
					[t('col.name'), t('col.type'), t('col.sent'), t('col.failed'), t('col.last')].concat(GW.api.can('install') ? [''] : []),
					chans.map(function (c) {
						var last = c.last_error ? String(c.last_error) : c.last_ts ? GW.fmt.dateTime(c.last_ts) : t('dash');
						var row = [h('span', { class: 'mono' }, c.name || '?'), GW.i18n.channelLabel(c.type),
							String(c.sent !== undefined ? c.sent : t('dash')), String(c.failed !== undefined ? c.failed : t('dash')), last];
						if (GW.api.can('install')) row.push(testButton(c.name));
						return row;
					})) : h('p', { class: 'muted' }, t('system.notify.none'))));
	}

	GW.pages = GW.pages || {};
	GW.pages.system = {
		enter: function (el) {
			root = el; st = null;
			body = h('div', { id: 'system' }, GW.ui.loading());
			GW.dom.append(root, [h('div', { class: 'page-head' }, h('h1', {}, t('system.title'))), body]);
			load();
			timer = window.setInterval(load, POLL_MS);
		},
		leave: function () { window.clearInterval(timer); timer = null; root = null; body = null; },
		refresh: function () { load(); }
	};
})(window.GW = window.GW || {});
