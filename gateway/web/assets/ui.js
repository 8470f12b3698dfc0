/* ui — pieces shared by the pages: severity chips, state chips, the Ack and
 * Shelve dialogs (the only places that change anything), toasts. Action
 * buttons exist only for roles that may use them: a viewer gets none. */
(function (GW) {
	'use strict';

	var h = GW.dom.h;
	var t = function (k, v) { return GW.i18n.t(k, v); };

	function sevChip(sev) {
		var n = Number(sev);
		var cls = n >= 1 && n <= 4 ? 'sev sev-' + n : 'sev';
		return h('span', { class: cls, title: 'severity ' + sev }, GW.i18n.sevLabel(sev));
	}

	function chip(text, cls) { return h('span', { class: 'chip ' + (cls || '') }, text); }

	function stateChips(inc, device) {
		var out = [];
		out.push(inc.active === false ? chip(t('state.cleared'), 'chip-ok') : chip(t('state.active'), 'chip-bad'));
		if (inc.acked) out.push(chip(inc.acked_by ? t('state.acked.by', { by: inc.acked_by }) : t('state.acked'), 'chip-ok'));
		else out.push(chip(t('state.unacked'), 'chip-warn'));
		if (inc.workflow && inc.workflow !== 'raised') {
			var w = GW.i18n.workflowLabel(inc.workflow);
			if (inc.assignee) w += ' → ' + inc.assignee;
			out.push(chip(w, 'chip-wf'));
		}
		if (device && isShelved(device)) out.push(chip(t('state.shelved'), 'chip-muted'));
		return out;
	}

	/* The incident's notification record: [{channel, type, ok|status, ts, to, error}]. */
	function notified(list) {
		if (!Array.isArray(list) || !list.length) return null;
		return h('div', { class: 'notified' },
			h('span', { class: 'notified-label' }, t('notified')),
			list.map(function (n) {
				if (typeof n === 'string') return chip(n, 'chip-muted');
				var name = n.channel || n.name || n.type || '?';
				var type = n.type && n.type !== name ? GW.i18n.channelLabel(n.type) + ' ' : '';
				var st = n.status || (n.ok === true ? 'ok' : n.ok === false ? 'failed' : '');
				var cls = st === 'ok' || st === 'sent' || st === 'delivered' ? 'chip-ok' : st === 'failed' || st === 'error' ? 'chip-bad' : 'chip-muted';
				var stText = st === 'ok' || st === 'sent' || st === 'delivered' ? t('notified.ok')
					: st === 'failed' || st === 'error' ? t('notified.failed')
					: st === 'pending' || st === 'queued' ? t('notified.pending') : st;
				var label = type + name + (stText ? ' · ' + stText : '');
				var c = chip(label, cls);
				var ms = GW.fmt.parseTs(n.ts);
				c.title = (ms ? GW.fmt.dateTime(ms) : '') + (n.error ? ' — ' + n.error : '');
				return c;
			}));
	}

	function isShelved(dev) {
		var ms = dev && GW.fmt.parseTs(dev.shelved_until);
		return ms !== null && ms !== undefined && ms > Date.now();
	}

	/* What a shelved device raised during this shelve: logged, never reported,
	 * shown so the technician sees the test worked (docs/console.md). */
	function suppressed(dev) {
		var list = dev && isShelved(dev) && Array.isArray(dev.suppressed) ? dev.suppressed : [];
		if (!list.length) return null;
		return h('div', { class: 'suppressed', data: { deviceId: dev.id } },
			h('span', { class: 'suppressed-label' }, t('suppressed.label')),
			list.map(function (x) {
				var state = x.active ? t('suppressed.active') : x.clearing ? t('suppressed.clearing') : t('suppressed.cleared');
				var text = GW.i18n.typeLabel(x.type) + (x.count > 1 ? ' ×' + x.count : '') + ' · ' +
					GW.fmt.short(x.at) + ' · ' + state;
				var c = chip(text, x.active ? 'chip-warn' : 'chip-muted');
				c.title = (x.rule || '') + ' ' + GW.fmt.dateTime(x.at);
				return c;
			}));
	}

	/* ---- toasts ---- */
	function toast(text, kind) {
		var box = document.getElementById('toasts');
		if (!box) return;
		var el = h('div', { class: 'toast ' + (kind === 'error' ? 'toast-error' : 'toast-ok'), role: kind === 'error' ? 'alert' : 'status' }, text);
		box.appendChild(el);
		window.setTimeout(function () { if (el.parentNode) el.parentNode.removeChild(el); }, kind === 'error' ? 8000 : 4000);
	}

	/* ---- a modal dialog: fields, an OK that runs an action, errors shown inside ---- */
	function dialog(opts) {
		var err = h('p', { class: 'dialog-error', role: 'alert', hidden: true });
		var ok = h('button', { type: 'submit', class: 'btn btn-primary', data: { role: 'confirm' } }, opts.ok);
		var cancel = h('button', { type: 'button', class: 'btn', data: { role: 'cancel' } }, t('cancel'));
		var form = h('form', { class: 'dialog-form', method: 'dialog' },
			h('h2', {}, opts.title),
			opts.body,
			err,
			h('div', { class: 'dialog-buttons' }, cancel, ok));
		var dlg = h('dialog', { class: 'dialog' }, form);
		function close() { if (dlg.open) dlg.close(); if (dlg.parentNode) dlg.parentNode.removeChild(dlg); }
		cancel.addEventListener('click', close);
		dlg.addEventListener('cancel', function () { window.setTimeout(close, 0); });
		form.addEventListener('submit', function (e) {
			e.preventDefault();
			ok.disabled = true;
			err.hidden = true;
			opts.run().then(function () {
				close();
				if (opts.done) opts.done();
			}, function (e2) {
				ok.disabled = false;
				err.textContent = GW.api.errorText(e2);
				err.hidden = false;
			});
		});
		document.body.appendChild(dlg);
		dlg.showModal();
		var first = form.querySelector('textarea, select, input');
		if (first) first.focus();
		return dlg;
	}

	function ackDialog(inc) {
		var note = h('textarea', { name: 'note', rows: 3, maxlength: 500, placeholder: t('ack.note.ph') });
		dialog({
			title: t('ack.title'),
			body: [
				h('p', { class: 'dialog-what' }, GW.ui.sevChip(inc.severity), ' ', GW.i18n.typeLabel(inc.type), ' · ',
					GW.fmt.location(inc.location) || inc.device || ''),
				h('label', { class: 'field' }, h('span', {}, t('ack.note')), note)
			],
			ok: t('ack.ok'),
			run: function () {
				return GW.api.post('/api/v1/incidents/' + GW.api.enc(inc.id) + '/ack', { note: note.value.trim() });
			},
			done: function () { toast(t('done.ack')); GW.app.refresh(); }
		});
	}

	function shelveDialog(deviceId) {
		var sel = h('select', { name: 'for' },
			['30m', '1h', '2h', '4h', '8h', '1d'].map(function (d) {
				return h('option', { value: d, selected: d === '2h' }, t('dur.' + d));
			}));
		dialog({
			title: t('shelve.title', { id: deviceId }),
			body: [
				h('p', { class: 'dialog-hint' }, t('shelve.hint')),
				h('label', { class: 'field' }, h('span', {}, t('shelve.for')), sel)
			],
			ok: t('shelve.ok'),
			run: function () {
				return GW.api.post('/api/v1/devices/' + GW.api.enc(deviceId) + '/shelve', { 'for': sel.value });
			},
			done: function () { toast(t('done.shelve', { id: deviceId })); GW.app.refresh(); }
		});
	}

	function unshelveDialog(deviceId) {
		dialog({
			title: t('unshelve.title', { id: deviceId }),
			body: [h('p', { class: 'dialog-hint' }, t('unshelve.hint'))],
			ok: t('action.unshelve'),
			run: function () {
				return GW.api.post('/api/v1/devices/' + GW.api.enc(deviceId) + '/unshelve', {});
			},
			done: function () { toast(t('done.unshelve', { id: deviceId })); GW.app.refresh(); }
		});
	}

	function actionButton(action, label, onClick, extra) {
		return h('button', {
			type: 'button', class: 'btn btn-action' + (extra ? ' ' + extra : ''), data: { action: action },
			on: { click: function (e) { e.preventDefault(); e.stopPropagation(); onClick(); } }
		}, label);
	}

	/* Ack / shelve / unshelve for one incident (none for a viewer). */
	function incidentActions(inc, device) {
		if (!GW.api.can('act')) return null;
		var btns = [];
		if (!inc.acked) btns.push(actionButton('ack', t('action.ack'), function () { ackDialog(inc); }, 'btn-primary'));
		if (inc.device && device !== undefined) {
			if (device && isShelved(device)) btns.push(actionButton('unshelve', t('action.unshelve'), function () { unshelveDialog(inc.device); }));
			else btns.push(actionButton('shelve', t('action.shelve'), function () { shelveDialog(inc.device); }));
		}
		return btns.length ? h('div', { class: 'actions' }, btns) : null;
	}

	function deviceActions(dev, compact) {
		if (!GW.api.can('act')) return null;
		var extra = compact ? 'btn-small' : '';
		return h('div', { class: 'actions' }, isShelved(dev)
			? actionButton('unshelve', t('action.unshelve'), function () { unshelveDialog(dev.id); }, extra)
			: actionButton('shelve', t('action.shelve'), function () { shelveDialog(dev.id); }, extra));
	}

	function loading() { return h('div', { class: 'loading' }, t('loading')); }

	function failed(err, retry) {
		return h('div', { class: 'panel panel-error' },
			h('p', {}, t('load.failed', { msg: GW.api.errorText(err) })),
			retry ? h('button', { type: 'button', class: 'btn', on: { click: retry } }, t('retry')) : null);
	}

	/* Age that ticks: the app updates every [data-since] once a second. */
	function age(iso) {
		var ms = GW.fmt.parseTs(iso);
		return h('span', { class: 'age', data: { since: ms === null ? '' : ms } }, ms === null ? t('dash') : GW.fmt.duration(Date.now() - ms));
	}

	function tickAges() {
		var now = Date.now();
		var els = document.querySelectorAll('[data-since]');
		for (var i = 0; i < els.length; i++) {
			var ms = Number(els[i].dataset.since);
			if (els[i].dataset.since && isFinite(ms)) els[i].textContent = GW.fmt.duration(now - ms);
		}
	}

	function kv(rows) {
		return h('dl', { class: 'kv' }, rows.filter(Boolean).map(function (r) {
			return [h('dt', {}, r[0]), h('dd', {}, r[1])];
		}));
	}

	GW.ui = {
		sevChip: sevChip, chip: chip, stateChips: stateChips, notified: notified, isShelved: isShelved, suppressed: suppressed,
		toast: toast, dialog: dialog, ackDialog: ackDialog, shelveDialog: shelveDialog, unshelveDialog: unshelveDialog,
		actionButton: actionButton, incidentActions: incidentActions, deviceActions: deviceActions,
		loading: loading, failed: failed, age: age, tickAges: tickAges, kv: kv
	};
})(window.GW = window.GW || {});
