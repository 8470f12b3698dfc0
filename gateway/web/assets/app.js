/* app — start-up, the session, the hash router, the header, and the shared
 * live state: the open incidents (for the banner, the Alarms badge and the
 * Alarms page) kept current from the event stream. Each page is an object
 * {enter(root, params), leave(), incidents(), device(ev)} in GW.pages. */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var t = function (k, v) { return GW.i18n.t(k, v); };

	var state = {
		incidents: [],      /* open incidents, most severe first, then newest */
		incidentsAt: 0,     /* ms of the last full fetch */
		gateway: '',
		page: null,
		route: null,
		wanted: null        /* route to go to after login */
	};

	/* ---- open incidents ---- */
	function sortIncidents(list) {
		return list.sort(function (a, b) {
			var sa = Number(a.severity) || 9, sb = Number(b.severity) || 9;
			if (sa !== sb) return sa - sb;
			return (GW.fmt.parseTs(b.raised_at || b.first_ts) || 0) - (GW.fmt.parseTs(a.raised_at || a.first_ts) || 0);
		});
	}

	function isClosed(inc) {
		return inc.workflow === 'closed' || inc.workflow === 'false_alarm' || inc.event === 'closed';
	}

	var fetching = null, fetchAgain = false;
	function fetchIncidents() {
		if (!GW.api.session) return Promise.resolve();
		if (fetching) { fetchAgain = true; return fetching; }
		fetching = GW.api.get('/api/v1/incidents?open=1').then(function (data) {
			state.incidents = sortIncidents((data && data.incidents) || []);
			state.incidentsAt = Date.now();
			incidentsChanged();
		}).catch(function () { /* shown by the connection state; the next event refetches */ })
			.then(function () {
				fetching = null;
				if (fetchAgain) { fetchAgain = false; fetchIncidents(); }
			});
		return fetching;
	}

	var refetchTimer = null;
	function refetchSoon() {
		if (refetchTimer) return;
		refetchTimer = window.setTimeout(function () { refetchTimer = null; fetchIncidents(); }, 250);
	}

	/* An incident event from the stream, applied at once (so the page shows
	 * it within a second), then the list refetched for the full record. */
	function onIncidentEvent(ev) {
		if (!ev || !ev.id) return;
		var list = state.incidents.filter(function (x) { return x.id !== ev.id; });
		var old = state.incidents.filter(function (x) { return x.id === ev.id; })[0] || {};
		if (!isClosed(ev)) {
			var inc = Object.assign({}, old);
			['type', 'severity', 'rule', 'device', 'kind', 'location', 'active', 'acked', 'workflow', 'message', 'count', 'assignee', 'notified']
				.forEach(function (k) { if (ev[k] !== undefined) inc[k] = ev[k]; });
			inc.id = ev.id;
			inc.raised_at = old.raised_at || ev.raised_at || ev.first_ts || ev.ts;
			inc.first_ts = old.first_ts || ev.first_ts;
			inc.updated_at = ev.ts || ev.updated_at;
			if (ev.event === 'acked' && ev.by) inc.acked_by = ev.by;
			/* who the platform dispatched it to travels in the evidence */
			if (ev.evidence && typeof ev.evidence._assignee === 'string') inc.assignee = ev.evidence._assignee;
			list.push(inc);
		}
		state.incidents = sortIncidents(list);
		incidentsChanged(ev);
		refetchSoon();
	}

	function incidentsChanged(ev) {
		GW.alarm.update(state.incidents);
		var badge = document.getElementById('nav-badge');
		if (badge) {
			var n = state.incidents.length;
			badge.textContent = n ? String(n) : '';
			badge.hidden = !n;
			var worst = n ? Number(state.incidents[0].severity) : 0;
			badge.className = 'badge' + (worst >= 1 && worst <= 4 ? ' badge-sev-' + worst : '');
		}
		if (state.page && state.page.incidents) state.page.incidents(ev);
	}

	/* ---- session ---- */
	function sessionLost() {
		if (!GW.api.session) return;
		GW.api.session = null;
		GW.stream.stop();
		state.incidents = [];
		GW.alarm.update([]);
		state.wanted = state.route && state.route[0] !== 'login' ? location.hash : null;
		GW.pages.login.expired = true;
		go('#/login');
	}

	function loggedIn(session) {
		GW.api.session = session;
		GW.stream.start();
		GW.api.get('/api/v1/status').then(function (s) {
			state.gateway = (s && s.gateway) || '';
			var el = document.getElementById('gw-id');
			if (el) el.textContent = state.gateway;
		}, function () { /* header shows no id */ });
		fetchIncidents();
	}

	function logout() {
		GW.api.post('/api/v1/logout', {}).catch(function () { /* gone anyway */ }).then(function () {
			GW.api.session = null;
			GW.stream.stop();
			state.incidents = [];
			GW.alarm.update([]);
			go('#/login');
		});
	}

	/* ---- header ---- */
	function connText(s) { return s === 'live' ? t('conn.live') : s === 'lost' ? t('conn.lost') : t('conn.connecting'); }

	function renderHeader() {
		var top = document.getElementById('top');
		var s = GW.api.session;
		var other = GW.i18n.lang === 'zh' ? 'en' : 'zh';
		var langBtn = h('button', {
			type: 'button', class: 'btn btn-ghost lang-switch', id: 'lang-switch', lang: other === 'zh' ? 'zh-CN' : 'en',
			data: { lang: other }, title: t('lang.other'),
			on: { click: function () { GW.i18n.setLang(other); renderAll(); } }
		}, t('lang.other.short'));
		if (!s) {
			GW.dom.replace(top, h('div', { class: 'top-inner' },
				h('span', { class: 'brand' }, h('span', { class: 'brand-mark' }), t('app.name')),
				h('div', { class: 'top-right' }, langBtn)));
			return;
		}
		var cur = state.route ? state.route[0] : 'alarms';
		function nav(key, extra) {
			var active = cur === key || (key === 'devices' && cur === 'device') || (key === 'alarms' && cur === 'incident');
			return h('a', { href: '#/' + key, class: 'nav-link' + (active ? ' active' : ''), data: { nav: key } }, t('nav.' + key), extra);
		}
		var n = state.incidents.length;
		var worst = n ? Number(state.incidents[0].severity) : 0;
		GW.dom.replace(top, h('div', { class: 'top-inner' },
			h('a', { class: 'brand', href: '#/alarms' }, h('span', { class: 'brand-mark' }), h('span', { class: 'brand-name' }, 'gridgw'),
				h('span', { class: 'gw-id', id: 'gw-id' }, state.gateway)),
			h('nav', { class: 'nav' },
				nav('alarms', h('span', { id: 'nav-badge', class: 'badge' + (worst ? ' badge-sev-' + worst : ''), hidden: !n }, n ? String(n) : '')),
				nav('devices'), nav('system'), GW.api.can('install') ? nav('commission') : null),
			h('div', { class: 'top-right' },
				h('span', { id: 'conn', class: 'conn conn-' + GW.stream.state, role: 'status' }, connText(GW.stream.state)),
				langBtn,
				h('span', { class: 'user', title: s.user }, h('span', { class: 'user-name' }, s.user), h('span', { class: 'role role-' + s.role }, t('role.' + s.role))),
				h('button', { type: 'button', class: 'btn btn-ghost', id: 'logout', on: { click: logout } }, t('logout')))));
	}

	function onStreamState(s) {
		var el = document.getElementById('conn');
		if (el) { el.className = 'conn conn-' + s; el.textContent = connText(s); }
		document.body.classList.toggle('stream-lost', s === 'lost');
	}

	/* ---- router ---- */
	function parseRoute() {
		var hash = location.hash.replace(/^#\/?/, '');
		var parts = hash.split('/');
		var name = parts[0] || 'alarms';
		var arg = parts.slice(1).join('/');
		try { arg = decodeURIComponent(arg); } catch (e) { /* keep it raw */ }
		return [name, arg];
	}

	function go(hash) {
		if (location.hash === hash) route();
		else location.hash = hash;
	}

	function route() {
		var r = parseRoute();
		if (!GW.api.session && r[0] !== 'login') {
			state.wanted = location.hash;
			go('#/login');
			return;
		}
		if (GW.api.session && r[0] === 'login') { go(state.wanted || '#/alarms'); state.wanted = null; return; }
		var page = GW.pages[r[0]] || GW.pages.alarms;
		if (state.page && state.page.leave) state.page.leave();
		state.route = r;
		state.page = page;
		renderHeader();
		var main = document.getElementById('page');
		GW.dom.clear(main);
		main.className = 'page page-' + r[0];
		page.enter(main, r[1]);
		window.scrollTo(0, 0);
	}

	function renderAll() {
		document.title = t('app.name');
		GW.alarm.render();
		route();
	}

	/* Refetch after an action (the stream brings it too; this is quicker). */
	function refresh() {
		fetchIncidents();
		if (state.page && state.page.refresh) state.page.refresh();
	}

	function start() {
		/* Notification messages link to CONSOLE_URL/incidents/<id>: when the
		 * server hands that path the page, show the incident. */
		var m = /^\/incidents\/([^/]+)\/?$/.exec(location.pathname);
		if (m) {
			location.replace('/#/incident/' + m[1]);
			return;
		}
		document.title = t('app.name');
		GW.alarm.init();
		GW.api.onSessionLost = sessionLost;
		GW.stream.onState = onStreamState;
		GW.stream.onOpen = function () { refresh(); };
		GW.stream.onIncident = onIncidentEvent;
		GW.stream.onDevice = function (ev) { if (state.page && state.page.device) state.page.device(ev); };
		window.addEventListener('hashchange', route);
		window.setInterval(GW.ui.tickAges, 1000);
		GW.api.get('/api/v1/session').then(function (s) {
			loggedIn(s);
			route();
		}, function () {
			route();
		});
	}

	GW.app = {
		state: state, start: start, go: go, refresh: refresh, loggedIn: loggedIn,
		fetchIncidents: fetchIncidents, renderHeader: renderHeader, wanted: function () {
			var w = state.wanted; state.wanted = null; return w;
		}
	};
	GW.pages = GW.pages || {};

	document.addEventListener('DOMContentLoaded', start);
})(window.GW = window.GW || {});
