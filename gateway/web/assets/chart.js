/* chart — a point's history as an SVG line chart, drawn by the page itself
 * (no chart library: nothing may come from outside the gateway). Drawn at the
 * container's pixel width so text stays readable on a phone; booleans are
 * drawn as steps; a null value or a gap of more than 5 median intervals
 * breaks the line (the device was offline). Pointer/touch shows the value
 * under the finger. */
(function (GW) {
	'use strict';

	var s = GW.dom.svg;

	function niceStep(span, n) {
		var raw = span / n;
		var mag = Math.pow(10, Math.floor(Math.log10(raw)));
		var f = raw / mag;
		return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
	}

	function toNum(v) {
		if (typeof v === 'boolean') return v ? 1 : 0;
		if (typeof v === 'number' && isFinite(v)) return v;
		return null;
	}

	/* samples: [{ts, value}], opts: {width, since, until, unit, bool} */
	function draw(samples, opts) {
		var W = Math.max(280, Math.floor(opts.width || 800));
		var H = W < 500 ? 200 : 260;
		var ml = 56, mr = 14, mt = 14, mb = 30;
		var pw = W - ml - mr, ph = H - mt - mb;
		var pts = [];
		var bool = !!opts.bool;
		samples.forEach(function (x) {
			var ms = GW.fmt.parseTs(x.ts);
			if (ms === null) return;
			if (typeof x.value === 'boolean') bool = true;
			pts.push({ ms: ms, v: toNum(x.value) });
		});
		pts.sort(function (a, b) { return a.ms - b.ms; });

		var t0 = opts.since, t1 = opts.until;
		var vals = pts.filter(function (p) { return p.v !== null; }).map(function (p) { return p.v; });
		var lo, hi;
		if (bool) { lo = 0; hi = 1; } else if (vals.length) {
			lo = Math.min.apply(null, vals); hi = Math.max.apply(null, vals);
			if (lo === hi) { lo -= 1; hi += 1; }
			var pad = (hi - lo) * 0.08;
			lo -= pad; hi += pad;
		} else { lo = 0; hi = 1; }

		var X = function (ms) { return ml + (ms - t0) / (t1 - t0) * pw; };
		var Y = function (v) { return mt + (1 - (v - lo) / (hi - lo)) * ph; };

		var root = s('svg', {
			class: 'chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H,
			role: 'img', 'aria-label': opts.label || ''
		});
		root.appendChild(s('rect', { class: 'chart-bg', x: ml, y: mt, width: pw, height: ph }));

		/* y grid and labels */
		if (bool) {
			[[0, GW.t('no')], [1, GW.t('yes')]].forEach(function (g) {
				root.appendChild(s('line', { class: 'chart-grid', x1: ml, x2: ml + pw, y1: Y(g[0]), y2: Y(g[0]) }));
				root.appendChild(s('text', { class: 'chart-ylabel', x: ml - 6, y: Y(g[0]) + 4, 'text-anchor': 'end' }, g[1]));
			});
		} else {
			var step = niceStep(hi - lo, 4);
			for (var gv = Math.ceil(lo / step) * step; gv <= hi + 1e-9; gv += step) {
				var gy = Y(gv);
				root.appendChild(s('line', { class: 'chart-grid', x1: ml, x2: ml + pw, y1: gy, y2: gy }));
				root.appendChild(s('text', { class: 'chart-ylabel', x: ml - 6, y: gy + 4, 'text-anchor': 'end' },
					GW.fmt.number(Math.abs(gv) < step / 1e6 ? 0 : gv)));
			}
			if (opts.unit) root.appendChild(s('text', { class: 'chart-unit', x: ml + 4, y: mt + 12 }, opts.unit));
		}

		/* x labels: local time, with the day when the span is over a day */
		var span = t1 - t0;
		var nx = W < 500 ? 3 : 6;
		for (var i = 0; i <= nx; i++) {
			var ms = t0 + span * i / nx;
			var anchor = i === 0 ? 'start' : i === nx ? 'end' : 'middle';
			root.appendChild(s('text', { class: 'chart-xlabel', x: X(ms), y: H - 10, 'text-anchor': anchor },
				span > 86400000 ? GW.fmt.dayHm(ms) : GW.fmt.hm(ms)));
			root.appendChild(s('line', { class: 'chart-tick', x1: X(ms), x2: X(ms), y1: mt + ph, y2: mt + ph + 4 }));
		}

		if (!vals.length) {
			root.appendChild(s('text', { class: 'chart-empty', x: ml + pw / 2, y: mt + ph / 2, 'text-anchor': 'middle' },
				GW.t('chart.nodata')));
			return root;
		}

		/* the line, broken at nulls and long gaps */
		var gaps = [];
		for (var k = 1; k < pts.length; k++) gaps.push(pts[k].ms - pts[k - 1].ms);
		gaps.sort(function (a, b) { return a - b; });
		var median = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 0;
		var maxGap = median > 0 ? Math.max(median * 5, 60000) : Infinity;
		var d = '', prev = null;
		pts.forEach(function (p) {
			if (p.v === null) { prev = null; return; }
			var x = X(p.ms).toFixed(1), y = Y(p.v).toFixed(1);
			if (prev === null || p.ms - prev.ms > maxGap) d += 'M' + x + ' ' + y;
			else if (bool) d += 'H' + x + 'V' + y;
			else d += 'L' + x + ' ' + y;
			prev = p;
		});
		root.appendChild(s('path', { class: 'chart-line' + (bool ? ' chart-step' : ''), d: d }));
		/* The latest sample is marked: a short history at the right edge of
		 * a long range is otherwise a hairline. */
		var goodPts = pts.filter(function (p) { return p.v !== null; });
		var last = goodPts[goodPts.length - 1];
		root.appendChild(s('circle', { class: 'chart-dot', cx: X(last.ms), cy: Y(last.v), r: 4 }));

		/* hover / touch read-out */
		var cursor = s('line', { class: 'chart-cursor', x1: 0, x2: 0, y1: mt, y2: mt + ph, visibility: 'hidden' });
		var dot = s('circle', { class: 'chart-dot', r: 4, cx: 0, cy: 0, visibility: 'hidden' });
		var label = s('text', { class: 'chart-readout', x: 0, y: mt + 14, visibility: 'hidden' });
		root.appendChild(cursor); root.appendChild(dot); root.appendChild(label);
		var good = pts.filter(function (p) { return p.v !== null; });
		var hit = s('rect', { class: 'chart-hit', x: ml, y: mt, width: pw, height: ph });
		function show(evt) {
			var r = root.getBoundingClientRect();
			var px = (evt.clientX - r.left) * (W / r.width);
			var ms = t0 + (px - ml) / pw * span;
			var lo2 = 0, hi2 = good.length - 1;
			while (lo2 < hi2) { var mid = (lo2 + hi2) >> 1; if (good[mid].ms < ms) lo2 = mid + 1; else hi2 = mid; }
			var best = good[lo2];
			if (lo2 > 0 && Math.abs(good[lo2 - 1].ms - ms) < Math.abs(best.ms - ms)) best = good[lo2 - 1];
			var bx = X(best.ms);
			cursor.setAttribute('x1', bx); cursor.setAttribute('x2', bx);
			dot.setAttribute('cx', bx); dot.setAttribute('cy', Y(best.v));
			label.textContent = GW.fmt.clock(best.ms) + '  ' + (bool ? (best.v ? GW.t('yes') : GW.t('no')) : GW.fmt.value(best.v, opts.unit));
			var right = bx > ml + pw * 0.6;
			label.setAttribute('x', right ? bx - 8 : bx + 8);
			label.setAttribute('text-anchor', right ? 'end' : 'start');
			[cursor, dot, label].forEach(function (e) { e.setAttribute('visibility', 'visible'); });
		}
		function hide() { [cursor, dot, label].forEach(function (e) { e.setAttribute('visibility', 'hidden'); }); }
		hit.addEventListener('pointermove', show);
		hit.addEventListener('pointerdown', show);
		hit.addEventListener('pointerleave', hide);
		root.appendChild(hit);
		return root;
	}

	GW.chart = { draw: draw };
})(window.GW = window.GW || {});
