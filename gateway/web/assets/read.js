/* read — the installer's live read (GET /api/v1/devices/{id}/read), shared
 * by the Device and Commissioning pages. The server has the device's own
 * bus thread read it (the gateway is the only master on the line) and
 * answers with every point: raw registers as the device sent them, the
 * decoded value, quality, and for a point that could not be read the
 * reason in plain words. An MQTT device has no registers: the answer is its
 * last message's values, and the page says so. */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var t = function (k, v) { return GW.i18n.t(k, v); };

	function hex(n) { return '0x' + ('0000' + Number(n).toString(16)).slice(-4); }

	function rawText(p) {
		if (!Array.isArray(p.raw)) return t('dash');
		if (p.table === 'coil' || p.table === 'discrete') return p.raw.join(' ');
		return p.raw.map(function (r) { return hex(r) + ' (' + r + ')'; }).join(' ');
	}

	function where(p) {
		if (p.json) return p.json;
		if (p.table === undefined) return t('dash');
		return t('table.' + p.table) + ' ' + p.address;
	}

	/* The table for one answer (ok or not: a 502 still carries the points). */
	function table(data) {
		var pts = (data && data.points) || [];
		var live = data && data.live !== false;
		var summary = live
			? t('read.summary', { bus: data.bus || '?', unit: data.unit, good: data.good, n: data.points_total, ms: data.elapsed_ms, req: data.requests })
			: t('read.mqtt', { src: data.source || '?', ts: data.last_message_ts ? GW.fmt.dateTime(data.last_message_ts) : t('dash') });
		return h('div', { class: 'read-result', data: { live: live ? '1' : '0', good: data && data.good } },
			h('p', { class: 'muted read-summary' }, summary, data && data.ts ? ' · ' + GW.fmt.dateTime(data.ts) : ''),
			data && data.error ? h('p', { class: 'dialog-error read-error', role: 'alert' }, data.error) : null,
			h('div', { class: 'table-wrap' }, h('table', { class: 'table read-table' },
				h('thead', {}, h('tr', {}, h('th', {}, t('col.point')), h('th', {}, t('col.value')),
					h('th', {}, live ? t('col.raw') : t('col.json')), h('th', { class: 'hide-narrow' }, live ? t('col.address') : t('col.updated')),
					h('th', {}, t('col.quality')))),
				h('tbody', {}, pts.map(function (p) {
					var good = p.quality === 'good';
					return h('tr', { class: good ? '' : 'q-bad', data: { point: p.name } },
						h('td', {}, h('span', { class: 'pt-label' }, GW.i18n.pointLabel(p.name)), h('span', { class: 'pt-name mono' }, p.name)),
						h('td', { class: 'pt-value' }, GW.fmt.pointValue(p.name, p)),
						h('td', { class: 'mono read-raw' }, live ? rawText(p) : (p.json || t('dash'))),
						h('td', { class: 'hide-narrow mono' }, live ? where(p) : (p.ts ? GW.fmt.dateTime(p.ts) : t('dash'))),
						h('td', {}, GW.ui.chip(GW.i18n.qualityLabel(p.quality), good ? 'chip-ok' : 'chip-bad'),
							p.error ? h('div', { class: 'read-why' }, p.error) : null));
				})))));
	}

	/* Runs a read of device id into box (an element), with a close button. */
	function run(id, box, onClose) {
		box.hidden = false;
		box.dataset.state = 'reading';
		var head = function () {
			return h('div', { class: 'panel-head' }, h('h2', {}, t('device.read.title') + ' · ', h('span', { class: 'mono' }, id)),
				h('div', { class: 'actions' },
					GW.ui.actionButton('read', t('read.again'), function () { run(id, box, onClose); }, 'btn-small'),
					h('button', { type: 'button', class: 'btn btn-ghost btn-small', on: { click: function () { box.hidden = true; if (onClose) onClose(); } } }, t('close'))));
		};
		GW.dom.replace(box, head(), h('p', { class: 'muted' }, t('device.reading')));
		return GW.api.get('/api/v1/devices/' + GW.api.enc(id) + '/read').then(function (data) {
			box.dataset.state = 'done';
			GW.dom.replace(box, head(), table(data));
		}, function (err) {
			box.dataset.state = 'failed';
			/* A device that did not answer is a 502 with the points and the reason. */
			if (err.data && err.data.points) GW.dom.replace(box, head(), table(err.data));
			else GW.dom.replace(box, head(), h('p', { class: 'dialog-error read-error' }, GW.api.errorText(err)));
		});
	}

	GW.read = { table: table, run: run };
})(window.GW = window.GW || {});
