// Half the playlist reloads of an LL-HLS listener: hls.js asks for one blocking playlist per
// part (every 0.32 s), and over HTTP/1.1 each answer costs ~570 bytes (headers and the
// gzipped delta) against 2,560 bytes of audio. The playlist already names the next part
// (EXT-X-PRELOAD-HINT, rfc8216bis §4.4.5.3), which a client may fetch before it is listed:
// the origin holds that request until the part is published. So every second time hls.js
// asks for "the playlist with part N", this loader answers from the last playlist, with the
// hinted part listed at PART-TARGET, and hls.js fetches the part at once; the next reload
// goes to the network and brings the real playlist (which lists that part as published).
// Never answers locally twice in a row (only the server's playlist names the part after),
// for a hinted part past the segment's usual count, after the end, or for anything but a
// blocking reload of the playlist it last saw. (After a locally listed last part, hls.js
// asks for part N+1 of that segment, which the origin answers as the next segment's first,
// with the segment's EXTINF: rfc8216bis §6.2.5.2.)
"use strict";
(function () {
  const HINT = /^#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]*?(\d+)\.(\d+)\.m4s)"$/m;
  const PART_TARGET = /^#EXT-X-PART-INF:PART-TARGET=([\d.]+)$/m;

  function partsPerSegment(text) {
    // parts listed for the last complete segment: the cadence the server keeps
    const lines = text.split("\n");
    let count = 0, best = 0;
    for (const line of lines) {
      if (line.startsWith("#EXT-X-PART:")) count++;
      else if (line && line[0] !== "#") { if (count) best = count; count = 0; }
    }
    return best;
  }

  function make(Hls) {
    const Base = Hls.DefaultConfig.loader;
    let last = null;  // {path, text, msn, part, local}: the last playlist given to hls.js

    function local(url) {
      if (!last || last.local) return null;
      const u = new URL(url, location.href);
      const msn = u.searchParams.get("_HLS_msn"), part = u.searchParams.get("_HLS_part");
      if (u.pathname !== last.path || msn === null || part === null) return null;
      if (+msn !== last.msn || +part !== last.part) return null;
      // a delta only where hls.js asked for one (after a failed merge it asks for the whole)
      if (!u.searchParams.get("_HLS_skip") && /^#EXT-X-SKIP:/m.test(last.text)) return null;
      const pps = partsPerSegment(last.text), target = PART_TARGET.exec(last.text);
      if (!target || !pps || last.part >= pps || /#EXT-X-ENDLIST/.test(last.text)) return null;
      const m = HINT.exec(last.text);
      return last.text.replace(m[0],
        `#EXT-X-PART:DURATION=${target[1]},URI="${m[1]}",INDEPENDENT=YES`);
    }

    function remember(url, text) {
      const m = HINT.exec(text);
      last = m ? { path: new URL(url, location.href).pathname, text, msn: +m[2], part: +m[3],
                   local: false } : null;
    }

    return class HintReloadLoader extends Base {
      load(context, config, callbacks) {
        const text = context.type === "level" ? local(context.url) : null;
        if (text === null) {
          const onSuccess = callbacks.onSuccess;
          const wrapped = Object.assign({}, callbacks, {
            onSuccess: (response, stats, ctx, details) => {
              if (ctx.type === "level" && typeof response.data === "string") {
                // hls.js's own URL: the one it will ask again (xhrSetup may have put a
                // renewed ticket into what was actually fetched)
                remember(ctx.url, response.data);
              }
              onSuccess(response, stats, ctx, details);
            },
          });
          super.load(context, config, wrapped);
          return;
        }
        if (last) last.local = true;  // the next reload goes to the network
        const s = this.stats, now = self.performance.now();
        s.loading.start = s.loading.first = s.loading.end = now;
        s.loaded = s.total = text.length;
        setTimeout(() => callbacks.onSuccess({ url: context.url, data: text, code: 200 }, s,
                                             context, null), 0);
      }
    };
  }

  window.thHintReloads = make;
})();
