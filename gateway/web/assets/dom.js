/* dom — element builders and formatting. Every piece of data reaches the
 * page as a text node or an attribute value set through the DOM: nothing is
 * ever parsed as HTML, so a room named <script>…</script> stays text. The CSP
 * forbids inline styles: looks come from classes only. */
(function (GW) {
	'use strict';

	var SVG_NS = 'http://www.w3.org/2000/svg';

	function append(el, kids) {
		for (var i = 0; i < kids.length; i++) {
			var k = kids[i];
			if (k === null || k === undefined || k === false) continue;
			if (Array.isArray(k)) append(el, k);
			else if (k instanceof Node) el.appendChild(k);
			else el.appendChild(document.createTextNode(String(k)));
		}
	}

	function setAttrs(el, attrs) {
		if (!attrs) return;
		Object.keys(attrs).forEach(function (k) {
			var v = attrs[k];
			if (v === null || v === undefined || v === false) return;
			if (k === 'on') {
				Object.keys(v).forEach(function (ev) { el.addEventListener(ev, v[ev]); });
			} else if (k === 'data') {
				Object.keys(v).forEach(function (dk) {
					if (v[dk] !== null && v[dk] !== undefined) el.dataset[dk] = String(v[dk]);
				});
			} else if (k === 'text') {
				el.textContent = String(v);
			} else {
				el.setAttribute(k, v === true ? '' : String(v));
			}
		});
	}

	/* h('div', {class: 'x', data: {deviceId: id}, on: {click: f}}, 'text', child, [more]) */
	function h(tag, attrs) {
		var el = document.createElement(tag);
		setAttrs(el, attrs);
		append(el, Array.prototype.slice.call(arguments, 2));
		return el;
	}

	function svg(tag, attrs) {
		var el = document.createElementNS(SVG_NS, tag);
		setAttrs(el, attrs);
		append(el, Array.prototype.slice.call(arguments, 2));
		return el;
	}

	function clear(el) {
		while (el.firstChild) el.removeChild(el.firstChild);
		return el;
	}

	function replace(el) {
		clear(el);
		append(el, Array.prototype.slice.call(arguments, 1));
		return el;
	}

	/* ---- formatting ---- */
	var t = function (k, v) { return GW.i18n.t(k, v); };

	function parseTs(iso) {
		if (!iso) return null;
		var ms = Date.parse(iso);
		return isNaN(ms) ? null : ms;
	}

	var fmtCache = {};
	function dtf(kind) {
		var key = GW.i18n.lang + kind;
		if (!fmtCache[key]) {
			var o = { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
			if (kind === 'full') { o.year = 'numeric'; o.month = '2-digit'; o.day = '2-digit'; }
			if (kind === 'hm') { o = { hour: '2-digit', minute: '2-digit', hour12: false }; }
			if (kind === 'dhm') { o = { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false }; }
			fmtCache[key] = new Intl.DateTimeFormat(GW.i18n.locale(), o);
		}
		return fmtCache[key];
	}

	/* Local time zone of the browser, always with the date. */
	function dateTime(iso) {
		var ms = typeof iso === 'number' ? iso : parseTs(iso);
		return ms === null ? t('dash') : dtf('full').format(new Date(ms));
	}
	/* Time of day for today, else day and time: for chips. */
	function short(iso) {
		var ms = typeof iso === 'number' ? iso : parseTs(iso);
		if (ms === null) return t('dash');
		var d = new Date(ms), n = new Date();
		return d.toDateString() === n.toDateString() ? hm(ms) : dayHm(ms);
	}
	function clock(ms) { return dtf('time').format(new Date(ms)); }
	function hm(ms) { return dtf('hm').format(new Date(ms)); }
	function dayHm(ms) { return dtf('dhm').format(new Date(ms)); }
	function timeZone() {
		var name = '';
		try { name = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { name = ''; }
		var off = -new Date().getTimezoneOffset();
		var sign = off >= 0 ? '+' : '-';
		off = Math.abs(off);
		var utc = 'UTC' + sign + Math.floor(off / 60) + (off % 60 ? ':' + String(off % 60).padStart(2, '0') : '');
		return name ? name + ', ' + utc : utc;
	}

	function duration(ms) {
		if (ms < 0 || !isFinite(ms)) ms = 0;
		var s = Math.floor(ms / 1000);
		if (s < 60) return t('dur.s', { s: s });
		var m = Math.floor(s / 60);
		if (m < 60) return t('dur.ms', { m: m, s: s % 60 });
		var hh = Math.floor(m / 60);
		if (hh < 24) return t('dur.hm', { h: hh, m: m % 60 });
		return t('dur.dh', { d: Math.floor(hh / 24), h: hh % 24 });
	}

	/* Building/entrance/floor/room, or the place; site fields (street,
	 * community, grid) are the same for the whole gateway and left out. */
	function location(loc) {
		if (!loc || typeof loc !== 'object') return '';
		var parts = [];
		['building', 'entrance', 'floor', 'room'].forEach(function (k) {
			if (loc[k] !== undefined && loc[k] !== null && loc[k] !== '') parts.push(t('loc.' + k, { v: loc[k] }));
		});
		var s = parts.join(GW.i18n.lang === 'zh' ? '' : ', ');
		if (loc.place) s = s ? s + ' · ' + loc.place : String(loc.place);
		return s;
	}

	function number(v) {
		if (typeof v !== 'number' || !isFinite(v)) return String(v);
		var a = Math.abs(v);
		if (a !== 0 && (a >= 1e7 || a < 1e-3)) return v.toPrecision(4);
		return String(Number(v.toFixed(a >= 100 ? 1 : 3)));
	}

	/* The API gives every value as a number; a point is boolean when the
	 * server says so (type bool/bit) or it is one of the boolean points of
	 * the shipped profiles (config/profiles/, names kept across models). */
	var BOOL_POINTS = { alarm: 1, fault: 1, tamper: 1, self_test: 1, open: 1, ebike: 1, door_hold: 1 };
	function isBool(name, p) {
		if (p && (p.type === 'bool' || p.type === 'bit')) return true;
		if (p && p.type) return false;
		if (p && typeof p.value === 'boolean') return true;
		return !!BOOL_POINTS[name];
	}
	function pointValue(name, p) {
		if (!p) return t('dash');
		if (isBool(name, p) && (p.value === 0 || p.value === 1 || typeof p.value === 'boolean')) return p.value ? t('yes') : t('no');
		return value(p.value, p.unit);
	}

	function value(v, unit) {
		if (v === null || v === undefined) return t('dash');
		if (typeof v === 'boolean') return v ? t('yes') : t('no');
		if (typeof v === 'number') return unit ? number(v) + ' ' + unit : number(v);
		return String(v);
	}

	function bytes(n) {
		if (typeof n !== 'number') return String(n);
		if (n < 1024) return n + ' B';
		if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
		if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MiB';
		return (n / 1073741824).toFixed(2) + ' GiB';
	}

	GW.dom = { h: h, svg: svg, clear: clear, replace: replace, append: append };
	GW.fmt = {
		parseTs: parseTs, dateTime: dateTime, short: short, clock: clock, hm: hm, dayHm: dayHm, timeZone: timeZone,
		duration: duration, location: location, number: number, value: value, bytes: bytes,
		isBool: isBool, pointValue: pointValue
	};
})(window.GW = window.GW || {});
