/* Incident: what happened, where, and its timeline (raised, notified via …,
 * acked by …, dispatched, accepted, cleared, closed) in the browser's local
 * time zone, with the date. Reloaded whenever the stream brings an event of
 * this incident. */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var t = function (k, v) { return GW.i18n.t(k, v); };

	var id = null, root = null, inc = null, dev;

	function backLink() { return h('a', { class: 'back', href: '#/alarms' }, '← ' + t('nav.alarms')); }

	function load() {
		var want = id;
		return GW.api.get('/api/v1/incidents/' + GW.api.enc(id)).then(function (d) {
			if (want !== id || !root) return;
			inc = d && d.incident ? d.incident : d;
			draw();
			if (inc.device && dev === undefined) {
				GW.api.get('/api/v1/devices/' + GW.api.enc(inc.device)).then(function (x) {
					if (want === id && root) { dev = x && x.device ? x.device : x; draw(); }
				}, function () { dev = null; });
			}
		}, function (err) {
			if (want !== id || !root) return;
			GW.dom.replace(root, backLink(), err.status === 404
				? h('div', { class: 'panel panel-error' }, t('incident.notfound', { id: id }))
				: GW.ui.failed(err, load));
		});
	}

	function evIcon(ev) {
		var cls = {
			raised: 'tl-bad', escalated: 'tl-bad', cleared: 'tl-ok', acked: 'tl-ok', closed: 'tl-muted',
			workflow: 'tl-wf', notified: 'tl-info', notify_failed: 'tl-bad', updated: 'tl-muted'
		}[ev.event] || 'tl-muted';
		return h('span', { class: 'tl-dot ' + cls });
	}

	function evDetails(ev) {
		var d = [];
		if (ev.by) d.push(t('ev.by', { by: ev.by }));
		var ch = ev.channel || ev.via;
		if (ch) d.push(t('ev.via', { ch: (ev.channel_type ? GW.i18n.channelLabel(ev.channel_type) + ' ' : '') + ch }));
		if (ev.to) d.push(t('ev.to', { to: Array.isArray(ev.to) ? ev.to.join(', ') : ev.to }));
		if ((ev.event === 'escalated' || ev.event === 'raised') && ev.severity) d.push(t('ev.severity', { sev: GW.i18n.sevLabel(ev.severity) }));
		if (ev.assignee) d.push(t('assignee') + ': ' + ev.assignee);
		if (ev.error) d.push(String(ev.error));
		return d;
	}

	function evidence(ev) {
		if (!ev || typeof ev !== 'object') return null;
		var keys = Object.keys(ev).filter(function (k) { return k.charAt(0) !== '_'; });
		if (!keys.length) return null;
		return h('div', { class: 'evidence' }, keys.map(function (k) {
			var v = ev[k];
			return h('span', { class: 'pv' }, GW.i18n.pointLabel(k) + ' ' + (v !== null && typeof v === 'object' ? JSON.stringify(v) : GW.fmt.value(v)));
		}));
	}

	function draw() {
		if (!root || !inc) return;
		var events = (inc.events || []).slice().sort(function (a, b) {
			if (a.seq !== undefined && b.seq !== undefined && a.seq !== b.seq) return a.seq - b.seq;
			return (GW.fmt.parseTs(a.ts) || 0) - (GW.fmt.parseTs(b.ts) || 0);
		});
		var raised = inc.raised_at || inc.first_ts;
		var open = inc.workflow !== 'closed' && inc.workflow !== 'false_alarm';
		var raisedEv = events.filter(function (e) { return e.event === 'raised'; })[0];
		var evid = inc.evidence || (raisedEv && raisedEv.evidence);
		var wf = GW.i18n.workflowLabel(inc.workflow) + (inc.assignee ? ' → ' + inc.assignee : '');

		GW.dom.replace(root,
			backLink(),
			h('section', { class: 'panel inc-detail sev-row-' + inc.severity, data: { incidentId: inc.id } },
				h('div', { class: 'inc-detail-head' },
					GW.ui.sevChip(inc.severity),
					h('h1', {}, GW.i18n.typeLabel(inc.type)),
					h('span', { class: 'inc-loc' }, GW.fmt.location(inc.location) || '')),
				inc.message ? h('p', { class: 'inc-detail-msg' }, inc.message) : null,
				h('div', { class: 'chips' }, GW.ui.stateChips(inc, dev || null)),
				GW.ui.notified(inc.notified),
				GW.ui.kv([
					inc.device ? [t('incident.device'), h('a', { class: 'mono', href: '#/device/' + encodeURIComponent(inc.device) }, inc.device)] : null,
					[t('incident.raised'), GW.fmt.dateTime(raised)],
					open ? [t('incident.duration'), GW.ui.age(raised)] : null,
					[t('incident.updated'), GW.fmt.dateTime(inc.updated_at || inc.ts)],
					[t('incident.workflow'), wf],
					evid ? [t('incident.evidence'), evidence(evid)] : null
				]),
				GW.ui.incidentActions(inc, inc.device ? (dev || null) : undefined)),
			h('section', { class: 'panel' },
				h('h2', {}, t('incident.timeline')),
				events.length ? h('ol', { class: 'timeline', id: 'timeline' }, events.map(function (ev) {
					return h('li', { class: 'tl-item', data: { event: ev.event } },
						evIcon(ev),
						h('time', { class: 'tl-time', datetime: ev.ts || '' }, GW.fmt.dateTime(ev.ts)),
						h('div', { class: 'tl-body' },
							h('span', { class: 'tl-label' }, GW.i18n.eventLabel(ev.event, ev.workflow)),
							evDetails(ev).map(function (x) { return h('span', { class: 'tl-detail' }, x); }),
							ev.note ? h('p', { class: 'tl-note' }, t('ev.note', { note: ev.note })) : null));
				})) : h('p', { class: 'muted' }, t('incident.timeline.none')),
				h('p', { class: 'muted tz-note' }, t('incident.tz', { tz: GW.fmt.timeZone() }))));
	}

	GW.pages = GW.pages || {};
	GW.pages.incident = {
		enter: function (el, arg) {
			root = el; id = arg; inc = null; dev = undefined;
			GW.dom.append(root, [backLink(), GW.ui.loading()]);
			load();
		},
		leave: function () { root = null; inc = null; },
		incidents: function (ev) { if (ev && ev.id === id) load(); },
		device: function (ev) { if (inc && ev.id === inc.device) { dev = undefined; load(); } },
		refresh: function () { dev = undefined; load(); }
	};
})(window.GW = window.GW || {});
