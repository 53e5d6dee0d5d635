// Sharing: the Web Share API where the browser has it, else copy the link; a toast says
// what happened. "Remind me" makes an .ics calendar file (RFC 5545) with the start time and
// the link, built in the page: nothing is sent anywhere.
export function toast(el, text) {
  el.textContent = text;
  el.hidden = false;
  clearTimeout(el._t);
  el._t = setTimeout(() => { el.hidden = true; }, 3000);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    const ta = document.createElement("textarea");  // clipboard refused (http, permissions)
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
    ta.remove();
    return ok;
  }
}

export async function share({ title, url }, toastEl) {
  if (navigator.share) {
    try { await navigator.share({ title, url }); return; } catch (err) {
      if (err && err.name === "AbortError") return;  // the person closed the sheet
    }
  }
  toast(toastEl, (await copyText(url)) ? "Link copied" : `Copy this link: ${url}`);
}

const icsTime = (d) => d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
const icsText = (s) => String(s).replace(/[\\;,]/g, (c) => "\\" + c).replace(/\n/g, "\\n");

export function calendarFile({ id, title, host, start, url }) {
  const begin = new Date(start);
  const end = new Date(begin.getTime() + 60 * 60 * 1000);
  const lines = [
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//townhall//space//EN", "CALSCALE:GREGORIAN",
    "BEGIN:VEVENT", `UID:${id}@townhall`, `DTSTAMP:${icsTime(new Date())}`,
    `DTSTART:${icsTime(begin)}`, `DTEND:${icsTime(end)}`,
    `SUMMARY:${icsText(title)}`, `DESCRIPTION:${icsText(`Hosted by ${host}. Listen: ${url}`)}`,
    `URL:${url}`, `LOCATION:${icsText(url)}`,
    "BEGIN:VALARM", "TRIGGER:-PT10M", "ACTION:DISPLAY", `DESCRIPTION:${icsText(title)}`,
    "END:VALARM", "END:VEVENT", "END:VCALENDAR",
  ];
  return lines.join("\r\n") + "\r\n";
}

export function remindMe(doc) {
  const blob = new Blob([calendarFile({ id: doc.id, title: doc.title, host: doc.host,
    start: doc.scheduled_start, url: doc.page_url })], { type: "text/calendar" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${doc.title.replace(/[^\w -]+/g, "").trim() || "space"}.ics`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
