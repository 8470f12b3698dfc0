/* Login: a plain form (inputs named username and password) posting JSON to
 * /api/v1/login; the answer's CSRF token is kept in memory for later POSTs. */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var t = function (k, v) { return GW.i18n.t(k, v); };

	var page = {
		expired: false,
		enter: function (root) {
			var user = h('input', { name: 'username', id: 'login-username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
			var pass = h('input', { name: 'password', id: 'login-password', type: 'password', autocomplete: 'current-password', required: true });
			var msg = h('p', { class: 'login-error', role: 'alert', hidden: !page.expired }, page.expired ? t('login.expired') : '');
			var btn = h('button', { type: 'submit', class: 'btn btn-primary btn-block', id: 'login-submit' }, t('login.submit'));
			var form = h('form', { class: 'login-form', id: 'login-form', autocomplete: 'on' },
				h('div', { class: 'login-brand' }, h('span', { class: 'brand-mark brand-mark-big' })),
				h('h1', {}, t('app.name')),
				h('p', { class: 'login-sub' }, t('login.sub.nogw')),
				h('label', { class: 'field', for: 'login-username' }, h('span', {}, t('login.username')), user),
				h('label', { class: 'field', for: 'login-password' }, h('span', {}, t('login.password')), pass),
				msg,
				btn);
			form.addEventListener('submit', function (e) {
				e.preventDefault();
				btn.disabled = true;
				btn.textContent = t('login.busy');
				msg.hidden = true;
				GW.api.post('/api/v1/login', { username: user.value.trim(), password: pass.value }).then(function (s) {
					page.expired = false;
					GW.app.loggedIn(s);
					GW.app.go(GW.app.wanted() || '#/alarms');
				}, function (err) {
					btn.disabled = false;
					btn.textContent = t('login.submit');
					msg.textContent = err.status === 401 ? t('login.bad')
						: err.status === 429 ? t('login.throttled')
						: t('login.failed', { msg: GW.api.errorText(err) });
					msg.hidden = false;
					pass.value = '';
					pass.focus();
				});
			});
			GW.dom.append(root, [h('div', { class: 'login-wrap' }, form)]);
			user.focus();
		}
	};

	GW.pages = GW.pages || {};
	GW.pages.login = page;
})(window.GW = window.GW || {});
