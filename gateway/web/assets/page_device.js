/* Device: every point's current value with its quality, an SVG chart of a
 * point's history (/api/v1/devices/{id}/history), the device's incidents,
 * shelve/unshelve for operators and a live read of the raw registers for
 * installers. Values are polled every 5 s, the chart every 30 s. */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var t = function (k, v) { return GW.i18n.t(k, v); };
	var POLL_MS = 5000, CHART_MS = 30000;
	var RANGES = { '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 24 * 3600e3 };

	var id = null, dev = null, root = null, timer = null, chartTimer = null;
	var point = null, range = '1h';
	var head = null, pointsBox = null, chartBox = null, chartTitle = null, incBox = null, readBox = null, rangeBox = null;
	var lastSamples = null;

	function load() {
		var want = id;
		return GW.api.get('/api/v1/devices/' + GW.api.enc(id)).then(function (data) {
			if (want !== id || !root) return;
			var d = data && data.device ? data.device : data;
			var first = !dev;
			dev = d;
			if (!point || !(d.points && d.points[point])) point = defaultPoint(d);
			draw();
			if (first) loadChart();
		}, function (err) {
			if (want !== id || !root || dev) return;
			GW.dom.replace(root, backLink(), err.status === 404
				? h('div', { class: 'panel panel-error' }, t('device.notfound', { id: id }))
				: GW.ui.failed(err, load));
		});
	}

	function defaultPoint(d) {
		var names = Object.keys(d.points || {});
		var num = names.filter(function (n) { return !GW.fmt.isBool(n, d.points[n]) && n !== 'battery'; });
		return num[0] || names[0] || null;
	}

	function backLink() { return h('a', { class: 'back', href: '#/devices' }, '← ' + t('nav.devices')); }

	function draw() {
		if (!root || !dev) return;
		if (!head) build();
		var alarms = GW.app.state.incidents.filter(function (i) { return i.device === dev.id && i.active !== false; });
		var st = dev.online === true ? 'online' : dev.online === false ? 'offline' : 'unknown';
		var actions = GW.ui.deviceActions(dev);
		if (GW.api.can('install')) {
			actions = actions || h('div', { class: 'actions' });
			actions.appendChild(GW.ui.actionButton('read', t('action.read'), liveRead));
		}
		GW.dom.replace(head,
			h('div', { class: 'dev-title' },
				h('span', { class: 'dot dot-' + st }),
				h('h1', { class: 'mono' }, dev.id),
				h('span', { class: 'dev-kind' }, GW.i18n.kindLabel(dev.kind || dev.profile))),
			h('div', { class: 'chips' },
				GW.ui.chip(t('st.' + st), st === 'online' ? 'chip-ok' : st === 'offline' ? 'chip-bad' : 'chip-muted'),
				alarms.length ? GW.ui.chip(t('st.alarm'), 'chip-alarm chip-sev-' + alarms[0].severity) : null,
				GW.ui.isShelved(dev) ? GW.ui.chip(t('shelved.until', { t: GW.fmt.dateTime(dev.shelved_until) }), 'chip-muted') : null),
			GW.ui.suppressed(dev),
			GW.ui.kv([
				[t('device.location'), GW.fmt.location(dev.location) || t('dash')],
				[t('device.profile'), dev.profile || t('dash')]
			]),
			actions);
		head.dataset.deviceId = dev.id;

		var names = Object.keys(dev.points || {});
		GW.dom.replace(pointsBox, h('table', { class: 'table points' },
			h('thead', {}, h('tr', {}, h('th', {}, t('col.point')), h('th', {}, t('col.value')), h('th', {}, t('col.quality')), h('th', { class: 'hide-narrow' }, t('col.updated')))),
			h('tbody', {}, names.map(function (n) {
				var p = dev.points[n];
				var good = p.quality === 'good' || p.quality === undefined;
				var tr = h('tr', { class: (n === point ? 'selected' : '') + (good ? '' : ' q-bad'), data: { point: n }, tabindex: 0 },
					h('td', {}, h('span', { class: 'pt-label' }, GW.i18n.pointLabel(n)), h('span', { class: 'pt-name mono' }, n)),
					h('td', { class: 'pt-value' }, GW.fmt.pointValue(n, p)),
					h('td', {}, GW.ui.chip(GW.i18n.qualityLabel(p.quality || 'good'), good ? 'chip-ok' : 'chip-bad')),
					h('td', { class: 'hide-narrow muted' }, p.ts ? GW.fmt.dateTime(p.ts) : t('dash')));
				function choose() { if (point !== n) { point = n; draw(); loadChart(); } }
				tr.addEventListener('click', choose);
				tr.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); choose(); } });
				return tr;
			}))));

		chartTitle.textContent = point ? t('device.history.of', { p: GW.i18n.pointLabel(point) }) : t('device.history');
		Array.prototype.forEach.call(rangeBox.children, function (b) { b.classList.toggle('active', b.dataset.range === range); });

		var incs = dev.incidents || [];
		GW.dom.replace(incBox, incs.length ? h('div', { class: 'mini-list' }, incs.map(function (inc) {
			var href = '#/incident/' + encodeURIComponent(inc.id);
			return h('a', { class: 'mini-inc sev-row-' + inc.severity + (inc.active === false ? ' inc-cleared' : ''), href: href, data: { incidentId: inc.id } },
				GW.ui.sevChip(inc.severity),
				h('span', { class: 'mini-type' }, GW.i18n.typeLabel(inc.type)),
				h('span', { class: 'chips' }, GW.ui.stateChips(inc)),
				h('span', { class: 'muted mini-time' }, GW.fmt.dateTime(inc.raised_at || inc.first_ts)));
		})) : h('p', { class: 'muted' }, t('device.incidents.none')));
	}

	function build() {
		head = h('div', { class: 'panel dev-detail-head' });
		pointsBox = h('div', { class: 'points-box' });
		chartTitle = h('h2', {});
		rangeBox = h('div', { class: 'seg', role: 'group' }, Object.keys(RANGES).map(function (r) {
			return h('button', {
				type: 'button', class: 'seg-btn', data: { range: r },
				on: { click: function () { range = r; draw(); loadChart(); } }
			}, t('range.' + r));
		}));
		chartBox = h('div', { class: 'chart-box', id: 'chart' });
		readBox = h('div', { class: 'panel read-box', id: 'live-read', hidden: true });
		incBox = h('div', {});
		GW.dom.replace(root,
			backLink(),
			head,
			readBox,
			h('div', { class: 'grid-2' },
				h('section', { class: 'panel' }, h('h2', {}, t('device.points')), pointsBox),
				h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, chartTitle, rangeBox), chartBox)),
			h('section', { class: 'panel' }, h('h2', {}, t('device.incidents')), incBox));
	}

	function loadChart() {
		if (!point || !chartBox) return;
		var want = point, wantRange = range;
		var since = Date.now() - RANGES[range];
		GW.api.get('/api/v1/devices/' + GW.api.enc(id) + '/history?point=' + GW.api.enc(point) + '&since=' + GW.api.enc(new Date(since).toISOString()))
			.then(function (data) {
				if (want !== point || wantRange !== range || !chartBox) return;
				lastSamples = (data && data.samples) || [];
				drawChart();
			}, function (err) {
				if (chartBox) GW.dom.replace(chartBox, h('p', { class: 'muted' }, GW.api.errorText(err)));
			});
	}

	function drawChart() {
		if (!chartBox || !lastSamples) return;
		var p = dev && dev.points && dev.points[point];
		var now = Date.now();
		var svg = GW.chart.draw(lastSamples, {
			width: chartBox.clientWidth || 600, since: now - RANGES[range], until: now,
			unit: p && p.unit, bool: GW.fmt.isBool(point, p), label: t('device.history.of', { p: GW.i18n.pointLabel(point) })
		});
		GW.dom.replace(chartBox, svg, h('p', { class: 'chart-note muted' }, t('chart.samples', { n: lastSamples.length })));
		chartBox.dataset.samples = String(lastSamples.length);
	}

	/* The bus thread reads the device now (read.js); the answer stays until closed. */
	function liveRead() { GW.read.run(id, readBox); }

	var resizeTimer = null;
	function onResize() {
		if (resizeTimer) window.clearTimeout(resizeTimer);
		resizeTimer = window.setTimeout(drawChart, 150);
	}

	GW.pages = GW.pages || {};
	GW.pages.device = {
		enter: function (el, arg) {
			root = el; id = arg; dev = null; head = null; point = null; lastSamples = null;
			GW.dom.append(root, [backLink(), GW.ui.loading()]);
			load();
			timer = window.setInterval(load, POLL_MS);
			chartTimer = window.setInterval(loadChart, CHART_MS);
			window.addEventListener('resize', onResize);
		},
		leave: function () {
			window.clearInterval(timer); window.clearInterval(chartTimer);
			window.removeEventListener('resize', onResize);
			timer = chartTimer = null; root = null; head = null; chartBox = null; dev = null;
		},
		incidents: function (ev) { if (ev && dev && ev.device === dev.id) load(); else draw(); },
		device: function (ev) { if (dev && ev.id === dev.id) load(); },
		refresh: function () { load(); }
	};
})(window.GW = window.GW || {});
