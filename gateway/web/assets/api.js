/* api — the console's only way to the gateway: JSON over same-origin fetch
 * (the session cookie is HttpOnly; the CSRF token from the login/session
 * answer goes in X-CSRF-Token on every POST), and the Server-Sent Events
 * stream, which reconnects by itself and tells the app to refetch on every
 * (re)connect so nothing that happened while it was down is missed. */
(function (GW) {
	'use strict';

	function ApiError(status, message, data) {
		this.status = status;
		this.message = message;
		this.data = data || null; /* the JSON body of the error, when there was one */
	}
	ApiError.prototype.toString = function () { return this.message; };

	var api = {
		session: null, /* {user, role, csrf} */
		onSessionLost: null,

		request: function (method, path, body) {
			var opt = { method: method, credentials: 'same-origin', headers: { 'Accept': 'application/json' }, cache: 'no-store' };
			if (method !== 'GET') {
				opt.headers['Content-Type'] = 'application/json';
				if (api.session && api.session.csrf) opt.headers['X-CSRF-Token'] = api.session.csrf;
				opt.body = JSON.stringify(body || {});
			}
			return fetch(path, opt).then(function (res) {
				return res.text().then(function (txt) {
					var data = null;
					if (txt) {
						try { data = JSON.parse(txt); } catch (e) { data = null; }
					}
					if (!res.ok) {
						var msg = data && data.error ? data.error : res.status + ' ' + res.statusText;
						if (res.status === 401 && path !== '/api/v1/login' && path !== '/api/v1/session' && api.onSessionLost) {
							api.onSessionLost();
						}
						throw new ApiError(res.status, msg, data);
					}
					return data;
				});
			}, function () {
				throw new ApiError(0, GW.t('err.network'));
			});
		},
		get: function (path) { return api.request('GET', path); },
		post: function (path, body) { return api.request('POST', path, body); },

		/* A user-facing sentence for a failed call. */
		errorText: function (err) {
			if (!err) return '';
			if (err.status === 403) return GW.t('err.forbidden');
			if (err.status === 404) return GW.t('err.notfound');
			if (err.status === 0) return GW.t('err.network');
			return GW.t('err.generic', { msg: err.message || String(err) });
		},

		enc: encodeURIComponent,

		can: function (what) {
			var r = api.session ? api.session.role : '';
			if (what === 'act') return r === 'operator' || r === 'installer';
			if (what === 'install') return r === 'installer';
			return false;
		}
	};

	/* ---- the event stream ---- */
	var stream = {
		state: 'connecting', /* connecting | live | lost */
		es: null,
		retryMs: 1000,
		timer: null,
		onState: null,     /* function (state) */
		onOpen: null,      /* function () — refetch */
		onIncident: null,  /* function (event object) */
		onDevice: null,    /* function ({id, online}) */

		start: function () {
			stream.stop();
			stream.set('connecting');
			var es = new EventSource('/api/v1/stream');
			stream.es = es;
			es.onopen = function () {
				stream.retryMs = 1000;
				stream.set('live');
				if (stream.onOpen) stream.onOpen();
			};
			es.onerror = function () {
				if (stream.es !== es) return;
				stream.set('lost');
				/* The browser retries by itself after a network error; after
				 * an HTTP error (401, 503) it gives up (CLOSED): retry with
				 * a growing delay, and find out whether the session ended. */
				if (es.readyState === EventSource.CLOSED) {
					es.close();
					stream.es = null;
					var wait = stream.retryMs;
					stream.retryMs = Math.min(stream.retryMs * 2, 15000);
					stream.timer = window.setTimeout(function () {
						stream.timer = null;
						api.get('/api/v1/session').then(function (s) {
							if (s && s.csrf) api.session = s;
							stream.start();
						}, function (err) {
							if (err.status === 401) { if (api.onSessionLost) api.onSessionLost(); }
							else stream.start();
						});
					}, wait);
				}
			};
			es.addEventListener('incident', function (e) {
				var ev = parse(e.data);
				if (ev && stream.onIncident) stream.onIncident(ev);
			});
			es.addEventListener('device', function (e) {
				var ev = parse(e.data);
				if (ev && stream.onDevice) stream.onDevice(ev);
			});
		},
		stop: function () {
			if (stream.timer) { window.clearTimeout(stream.timer); stream.timer = null; }
			if (stream.es) { stream.es.close(); stream.es = null; }
		},
		set: function (s) {
			stream.state = s;
			if (stream.onState) stream.onState(s);
		}
	};

	function parse(txt) {
		try { return JSON.parse(txt); } catch (e) { return null; }
	}

	GW.ApiError = ApiError;
	GW.api = api;
	GW.stream = stream;
})(window.GW = window.GW || {});
