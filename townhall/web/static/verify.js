// STUB: the verifiable-recording issue (11) provides the real module with this export.
// It renders the recording's verification badge into `el`; this stub renders nothing.
export async function renderVerification(el, spaceId) {
  void el;
  void spaceId;
}
