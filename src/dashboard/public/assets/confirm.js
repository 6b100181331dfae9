// Confirmation before an action that changes what serves traffic: a modal <dialog> (focus moves into
// it, stays there, Escape cancels, focus returns to the button that opened it). Cancel has the focus
// first, so that Enter alone never confirms.

/**
 * @param {{ title: string, text: string, confirm: string }} o
 * @returns {Promise<boolean>}
 */
export function confirmAction(o) {
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById('confirm'));
  const title = /** @type {HTMLElement} */ (document.getElementById('confirm-title'));
  const text = /** @type {HTMLElement} */ (document.getElementById('confirm-text'));
  const ok = /** @type {HTMLButtonElement} */ (document.getElementById('confirm-ok'));
  const cancel = /** @type {HTMLButtonElement} */ (document.getElementById('confirm-cancel'));
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  title.textContent = o.title;
  text.textContent = o.text;
  ok.textContent = o.confirm;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    const onOk = () => dialog.close('ok');
    const onCancel = () => dialog.close('cancel');
    dialog.addEventListener(
      'close',
      () => {
        ok.removeEventListener('click', onOk);
        cancel.removeEventListener('click', onCancel);
        if (opener?.isConnected) opener.focus();
        resolve(dialog.returnValue === 'ok');
      },
      { once: true },
    );
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.showModal();
    cancel.focus();
  });
}
