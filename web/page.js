// Page behaviours Gradio does not have: say why the camera does not start; release the camera and close the live
// stream whenever its box is no longer on screen (any tab, the phone's "⋯" menu, another browser tab, the page
// going away) and give it back in a clean "Click to Access Webcam" state; bring the answer into view on a phone;
// say so when a download link has expired; keep the API panel on what this server serves.
// Loaded once in <head> (web/server.py).
(() => {
  const streams = new Set();      // camera streams this page opened
  const liveEvents = new Map();   // Gradio stream events (live webcam) the page is sending frames to: id → URL
  const CAMERAS = ["#live-camera", "#snap-camera"];

  const CAMERA_HELP = {
    NotAllowedError: "Camera access was blocked. Allow the camera for this site (the camera icon in the address bar, or your browser's site settings), then click the camera again. Or use the Upload tab.",
    SecurityError: "Camera access was blocked. Allow the camera for this site (the camera icon in the address bar, or your browser's site settings), then click the camera again. Or use the Upload tab.",
    NotFoundError: "No camera was found on this device. Connect one and click the camera again, or use the Upload tab.",
    OverconstrainedError: "No camera was found on this device. Connect one and click the camera again, or use the Upload tab.",
    NotReadableError: "The camera is in use by another app or could not be started. Close the other app and click the camera again, or use the Upload tab.",
  };

  function cameraMessage(text) {
    document.querySelectorAll(".camera-message").forEach((el) => {
      el.textContent = text || "";
      el.style.display = text ? "block" : "none";
    });
  }

  const md = navigator.mediaDevices;
  if (md && md.getUserMedia) {
    const getUserMedia = md.getUserMedia.bind(md);
    md.getUserMedia = async (constraints) => {
      try {
        const stream = await getUserMedia(constraints);
        streams.add(stream);
        cameraMessage("");
        setTimeout(check, 0);  // opened while its box was already hidden (a fast tab switch): released at once
        return stream;
      } catch (e) {
        cameraMessage(CAMERA_HELP[e && e.name] || `The camera could not be started (${(e && e.name) || "unknown error"}). Use the Upload tab instead.`);
        throw e;
      }
    };
  } else {
    // No camera API at all (an insecure http:// address, or an old browser): say so as soon as the tab is opened.
    document.addEventListener("click", (ev) => {
      if (ev.target.closest && ev.target.closest("#webcam-tabs")) {
        cameraMessage("This browser does not allow camera access on this page (it needs https:// or localhost). Use the Upload tab instead.");
      }
    }, true);
  }

  const shown = (el) => !!el && !document.hidden && (el.checkVisibility ? el.checkVisibility() : el.offsetParent !== null);
  const liveShown = () => shown(document.querySelector("#live-camera"));

  // Photos this page uploads are shown from the browser's own copy (an object URL), never fetched back from the
  // server: the server deletes an upload as soon as it has read it, which may be before a preview has loaded (a
  // broken preview, "file not found" on the server). Upload responses name each file's server path, in order.
  const localCopies = new Map();  // server path → object URL
  const localFor = (src) => {
    const m = typeof src === "string" && src.match(/\/gradio_api\/file=([^?#]+)/);
    return (m && (localCopies.get(m[1]) || localCopies.get(decodeURIComponent(m[1])))) || src;
  };
  const srcProp = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true, enumerable: srcProp.enumerable,
    get() { return srcProp.get.call(this); },
    set(v) { srcProp.set.call(this, localFor(v)); },
  });
  const setAttribute0 = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    return setAttribute0.call(this, name, this instanceof HTMLImageElement && name === "src" ? localFor(value) : value);
  };

  // Uploads: photos are made no larger than the server works with (DETAIL side, from web/server.py: the copy whose
  // tiles find a group photo's small faces) before they leave the browser, upright and without their EXIF, as WebP
  // where the browser writes it (a 12 MP phone photo: ~4 MB → ~0.2 MB; JPEG elsewhere: ~0.35 MB; the server takes
  // both), and the bytes sent so far are shown where the answer will be.
  const LIMITS = Object.assign({ maxImageBytes: 20 * 2 ** 20, sendSide: 2000, sendQuality: 0.8 }, window.EMOTION_PAGE || {});
  const SHRINKABLE = /^image\/(jpeg|png|webp)$/;
  async function encode(canvas) {
    const webp = await canvas.convertToBlob({ type: "image/webp", quality: LIMITS.sendQuality });
    if (webp.type === "image/webp") return webp;  // (a browser without a WebP encoder answers a PNG)
    return canvas.convertToBlob({ type: "image/jpeg", quality: LIMITS.sendQuality });
  }
  async function shrink(file) {
    if (!(file instanceof Blob) || !SHRINKABLE.test(file.type) || file.size < 512 * 1024 || !window.createImageBitmap) return file;
    if (typeof OffscreenCanvas === "undefined") return file;
    let bmp;
    try {
      bmp = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (e) {
      return file;  // not decodable here: the server says what is wrong with it
    }
    const scale = Math.min(1, LIMITS.sendSide / Math.max(bmp.width, bmp.height));
    const w = Math.round(bmp.width * scale), h = Math.round(bmp.height * scale);
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bmp, 0, 0, w, h);
    bmp.close();
    let blob;
    try {
      blob = await encode(canvas);
    } catch (e) {
      return file;
    }
    const ext = blob.type === "image/webp" ? "webp" : "jpg";
    const name = `${(file.name || "photo").replace(/\.[^.]*$/, "")}.${ext}`;
    return blob.size < file.size ? new File([blob], name, { type: blob.type, lastModified: file.lastModified }) : file;
  }

  let sendingFrom = null;  // the box a person last gave files to: its progress line shows the upload
  const SEND_BOXES = { "#photo-input": "#photo-send", "#batch-input": "#batch-send", "#video-input": "#video-send" };
  const noteSource = (ev) => {
    const t = ev.target && ev.target.closest && ev.target.closest(Object.keys(SEND_BOXES).join(","));
    if (t) sendingFrom = "#" + t.id;
  };
  ["change", "drop", "paste"].forEach((type) => document.addEventListener(type, noteSource, true));
  const sendLine = () => sendingFrom && document.querySelector(`${SEND_BOXES[sendingFrom]} .send-status`);
  const mb = (n) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 1)} MB`;

  function xhrSend(url, init, progress) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open(init.method || "POST", url);
      new Headers(init.headers || {}).forEach((v, k) => x.setRequestHeader(k, v));
      x.responseType = "blob";
      x.upload.onprogress = (e) => { if (e.lengthComputable) progress(e.loaded, e.total); };
      x.onload = () => {
        const headers = new Headers();
        x.getAllResponseHeaders().trim().split(/[\r\n]+/).forEach((line) => {
          const i = line.indexOf(":");
          if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
        });
        resolve(new Response(x.status === 204 ? null : x.response, { status: x.status || 500, statusText: x.statusText, headers }));
      };
      x.onerror = () => reject(new TypeError("Failed to fetch"));
      x.onabort = () => reject(new DOMException("The upload was cancelled.", "AbortError"));
      if (init.signal) init.signal.addEventListener("abort", () => x.abort());
      x.send(init.body);
    });
  }

  async function sendFiles(input, init) {
    const url = typeof input === "string" ? input : input.url;
    const line = sendLine();
    const form = new FormData();
    const files = [];
    for (const [key, value] of init.body.entries()) {
      const v = key === "files" && value instanceof Blob ? await shrink(value) : value;
      if (key === "files") files.push(v);
      if (v instanceof File) form.append(key, v, v.name);
      else form.append(key, v);
    }
    const total = files.reduce((n, f) => n + (f.size || 0), 0);
    const what = files.length > 1 ? `${files.length} files` : sendingFrom === "#video-input" ? "the clip" : "the photo";
    const say = (text) => { if (line) line.textContent = text; };
    say(`Sending ${what} (${mb(total)})…`);
    const r = await xhrSend(url, { ...init, body: form }, (sent, all) =>
      say(`Sending ${what}: ${Math.round((100 * sent) / all)} % of ${mb(all)}`)).finally(() => say(""));
    try {
      const paths = await r.clone().json();
      paths.forEach((path, i) => {
        const f = files[i];
        // (a webcam capture is a File without a type, named image.png)
        if (typeof path === "string" && f instanceof Blob && (/^image\//.test(f.type) || IMAGE_NAME.test(f.name || ""))) {
          localCopies.set(path, URL.createObjectURL(f));
          if (localCopies.size > 40) {  // the oldest copies go (a page that keeps uploading)
            const [old, objectUrl] = localCopies.entries().next().value;
            URL.revokeObjectURL(objectUrl);
            localCopies.delete(old);
          }
        }
      });
    } catch (e) { /* not a list of paths: leave it to Gradio */ }
    return r;
  }

  // A file the photo box cannot take (not an image, or over the size limit) is refused before it is sent, in the
  // server's words and where the answer shows (Gradio's own check ends in an "Error" toast, or nothing for a drop):
  // web/ui.py's hidden "refuse" event reads window.emotionRefusal and answers with the server's message.
  const IMAGE_NAME = /\.(jpe?g|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i;
  const refusalOf = (f) => (!/^image\//.test(f.type || "") && !IMAGE_NAME.test(f.name || "") ? "unsupported_format"
    : f.size > LIMITS.maxImageBytes ? "file_too_large" : null);
  function refuseIn(ev, files) {
    const f = files && files[0];
    const code = f && refusalOf(f);
    if (!code) return false;
    ev.preventDefault();
    ev.stopImmediatePropagation();
    window.emotionRefusal = JSON.stringify({ code, name: f.name || "", bytes: f.size || 0 });
    const go = document.querySelector("#refuse-photo");
    if (go) go.click();
    return true;
  }
  document.addEventListener("change", (ev) => {
    const t = ev.target;
    if (t && t.type === "file" && t.closest && t.closest("#photo-input") && refuseIn(ev, t.files)) t.value = "";
  }, true);
  document.addEventListener("drop", (ev) => {
    const box = ev.target && ev.target.closest && ev.target.closest("#photo-input");
    if (box && refuseIn(ev, ev.dataTransfer && ev.dataTransfer.files)) {
      box.querySelectorAll("*").forEach((el) => el.dispatchEvent(new DragEvent("dragleave", { bubbles: false })));
    }
  }, true);

  // "Use via API" › cURL: Gradio's command pipes the event id into `read EVENT_ID`, which bash runs in a subshell (the
  // id is gone by the next command: the GET fetches nothing). The panel shows (and copies) `EVENT_ID=$(…)` instead,
  // which every shell keeps. Changed in the API description the panel is built from, so the text shown, the copy
  // button and the "copy as Markdown" page all carry the same command.
  const READ_EVENT_ID = /^curl -X POST ([\s\S]*?) \\\n\s*\| read EVENT_ID; /m;
  const runnableCurl = (cmd) => (typeof cmd === "string" ? cmd.replace(READ_EVENT_ID, "EVENT_ID=$(curl -X POST $1); ") : cmd);
  async function runnableSnippets(r) {
    if (!r.ok) return r;
    try {
      const info = await r.clone().json();
      ["named_endpoints", "unnamed_endpoints"].forEach((k) => Object.values(info[k] || {}).forEach((ep) => {
        if (ep && ep.code_snippets) ep.code_snippets.bash = runnableCurl(ep.code_snippets.bash);
      }));
      return new Response(JSON.stringify(info), { status: r.status, statusText: r.statusText, headers: r.headers });
    } catch (e) {
      return r;  // not the description expected: shown as Gradio made it
    }
  }

  // Live frames go to /gradio_api/stream/<event id>; remember the ids so leaving can close them, and send none while
  // the live camera is not on screen.
  const mcpServer = () => !!(window.gradio_config && window.gradio_config.mcp_server);
  const fetch0 = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const url = typeof input === "string" ? input : (input && input.url) || "";
    if (!mcpServer() && /\/gradio_api\/mcp\/schema$/.test(url)) {
      // No MCP server here: say so to the API panel, which then opens on the Python client (no request is made).
      return Promise.resolve(new Response("[]", { status: 404, headers: { "Content-Type": "application/json" } }));
    }
    if (/\/gradio_api\/upload(\?|$)/.test(url) && init && init.body instanceof FormData) {
      return sendFiles(input, init);
    }
    if (/\/gradio_api\/info(\?|$)/.test(url)) return fetch0(input, init).then(runnableSnippets);
    const m = url.match(/\/gradio_api\/stream\/([0-9a-f]+)(\/close)?$/);
    if (m && !m[2]) {
      if (!liveShown()) {
        if (!liveEvents.has(m[1])) liveEvents.set(m[1], url);
        setTimeout(check, 0);
        return Promise.resolve(new Response(JSON.stringify({ msg: "stopped" }), { status: 200 }));
      }
      liveEvents.set(m[1], url);
    }
    return fetch0(input, init);
  };

  const liveTracks = (root) => [...root.querySelectorAll("video")].some(
    (v) => v.srcObject && v.srcObject.getTracks().some((t) => t.readyState === "live"));

  // A camera box that holds a running camera but is not on screen: stop every track, close the live stream, and
  // have Gradio rebuild the box (a client-side event that hides and shows it: a fresh "Click to Access Webcam").
  let resetting = false;
  function check() {
    // Live's answers show only while its camera runs: a late answer to a frame sent before leaving never lingers.
    const liveCam = document.querySelector("#live-camera");
    document.body.classList.toggle("live-idle", !(liveCam && liveTracks(liveCam)));
    const hidden = CAMERAS.map((sel) => document.querySelector(sel)).filter((el) => el && !shown(el) && liveTracks(el));
    const orphan = [...streams].some((s) => s.getTracks().some((t) => t.readyState === "live")) &&
      !CAMERAS.some((sel) => shown(document.querySelector(sel)));
    if (!hidden.length && !orphan && (liveShown() || !liveEvents.size)) return;
    streams.forEach((s) => s.getTracks().forEach((t) => t.stop()));
    streams.clear();
    liveEvents.forEach((url) => fetch0(`${url}/close`, { method: "POST" }).catch(() => {}));
    liveEvents.clear();
    if ((hidden.length || orphan) && !resetting) {
      const reset = document.querySelector("#camera-reset");
      if (reset) {
        resetting = true;
        reset.click();
        setTimeout(() => { resetting = false; }, 1000);
      }
    }
  }
  document.addEventListener("click", () => setTimeout(check, 50), true);
  document.addEventListener("visibilitychange", check);
  window.addEventListener("pagehide", check);
  setInterval(check, 500);  // whatever else hides the box (a keyboard tab switch, a layout change)

  // On a phone the answer sits below the photo (or the video): bring it into view when it arrives.
  const narrow = () => window.matchMedia("(max-width: 768px)").matches;
  const watched = new WeakSet();
  const follow = (sel, ready) => {
    const v = document.querySelector(sel);
    if (!v || watched.has(v)) return;
    watched.add(v);
    new MutationObserver(() => {
      const target = v.querySelector(ready);
      if (narrow() && target) target.scrollIntoView({ behavior: "smooth", block: "center" });
    }).observe(v, { childList: true, subtree: true });
  };

  // Feedback in view on any screen: "Why this emotion?" shows its progress and picture, and "Analyse all" its
  // progress and results, where a person is looking (below the fold on a laptop otherwise).
  document.addEventListener("click", (ev) => {
    const go = ev.target.closest && ev.target.closest("#explain-go, #batch-go");
    if (!go || go.disabled) return;
    const target = document.querySelector(go.id === "explain-go" ? "#cam" : "#batch-message");
    setTimeout(() => target && target.scrollIntoView({ behavior: "smooth", block: go.id === "explain-go" ? "center" : "start" }), 50);
  });

  // Webcam › Snapshot: the × on a taken picture means "take another": the camera opens again at once (Gradio would
  // go back to "Click to Access Webcam"); the answer to the last picture stays until the next one.
  document.addEventListener("click", (ev) => {
    const x = ev.target.closest && ev.target.closest("#snap-camera button[aria-label='Remove Image']");
    if (!x) return;
    const reopen = (tries) => {
      const start = [...document.querySelectorAll("#snap-camera button, #snap-camera [role=button]")].find(
        (b) => /Click to Access Webcam/i.test(b.textContent || ""));
      if (start) start.click();
      else if (tries > 0) setTimeout(() => reopen(tries - 1), 100);
    };
    setTimeout(() => reopen(20), 50);
  }, true);

  // A CSV link whose file the server has already deleted (privacy: see the page's retention time): say so on the page
  // instead of a download that fails.
  document.addEventListener("click", async (ev) => {
    const a = ev.target.closest && ev.target.closest(".csv-download a[href]");
    if (!a || a.dataset.checked === "1") return;
    ev.preventDefault();
    ev.stopPropagation();
    const box = a.closest(".csv-download");
    let note = box.querySelector(".csv-expired");
    let ok = false;
    try {
      ok = (await fetch0(a.href, { method: "GET", cache: "no-store" })).ok;
    } catch (e) {
      ok = false;
    }
    if (ok) {
      if (note) note.remove();
      a.dataset.checked = "1";
      a.click();
      setTimeout(() => { delete a.dataset.checked; }, 1000);
      return;
    }
    if (!note) {
      note = document.createElement("div");
      note.className = "csv-expired";
      note.setAttribute("role", "alert");
      box.appendChild(note);
    }
    note.textContent = "This CSV has expired: results are deleted from the server after a few minutes (see the note above). Run the analysis again for a fresh one.";
  }, true);

  // "Use via API": when this server has no MCP endpoint (Gradio turned it off: the `mcp` package is missing), the
  // panel opens on the Python client and shows no MCP tab; when it has one (web/mcp.py), the panel shows it as is.
  const fixApiPanel = () => {
    const docs = document.querySelector(".api-docs");
    if (docs && !docs.querySelector(".rest-note")) {
      // The simplest way in first: the plain REST endpoint, with a command that runs as shown (this server's own
      // example photo), and why a web address as input is refused.
      const note = document.createElement("div");
      note.className = "rest-note";
      const cmd = `curl -F file=@${LIMITS.examplePhoto || "face.jpg"} ${location.origin}/api/predict`;
      note.innerHTML = "<p><strong>Simplest: <code>POST /api/predict</code></strong> with the photo in a multipart field " +
        "<code>file</code> answers the result JSON (schema and error codes: <a href='/guide/api'>/guide/api</a>; " +
        "try it in <a href='/docs'>/docs</a>):</p><pre tabindex='0'><code></code></pre>" +
        "<p>Give the clients a file, not a web address: this server downloads nothing from outside, so a URL as " +
        "input is refused. The examples below use this server's own example photo.</p>";
      note.querySelector("pre code").textContent = cmd;
      const banner = docs.querySelector(".banner-wrap");
      if (banner) banner.insertAdjacentElement("afterend", note);
      else docs.prepend(note);
    }
    if (docs) {
      docs.querySelectorAll("button").forEach((b) => {
        if ((b.textContent || "").trim() || b.getAttribute("aria-label")) return;
        b.setAttribute("aria-label", b.closest(".banner-wrap") ? "Close the API page" : b.closest(".copy, .copy-button") || b.classList.contains("copy-button") ? "Copy this code" : "Button");
      });
      // The MCP tab's tool checkboxes have no label: name each after its tool.
      docs.querySelectorAll("input.tool-checkbox:not([aria-label])").forEach((cb) => {
        const row = cb.closest("button, li, div");
        const name = ((row && row.textContent) || "").trim().split(/\s+/)[0] || "this tool";
        cb.setAttribute("aria-label", `Include ${name} in the MCP configuration`);
      });
      // The language choice is a row of <li> without a list: buttons, as they act.
      docs.querySelectorAll("li.snippet:not([role])").forEach((li) => {
        li.setAttribute("role", "button");
        li.setAttribute("tabindex", "0");
        li.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); li.click(); } });
      });
    }
    if (mcpServer()) return;
    document.querySelectorAll("button, [role=tab], li").forEach((b) => {
      const t = (b.textContent || "").trim();
      if (/^MCP$/.test(t) && b.closest(".api-docs, .docs-wrap, [class*=api]") && b.style.display !== "none") {
        const selected = ["selected", "current", "current-lang"].some((c) => b.classList.contains(c)) || b.getAttribute("aria-selected") === "true";
        b.style.display = "none";
        if (selected) {
          const python = [...b.parentElement.querySelectorAll("button, [role=tab], li")].find((x) => /Python/.test(x.textContent || ""));
          if (python) python.click();
        }
      }
    });
  };

  // Keyboard: the example buttons get names (the photo's file name), the face picker moves with the arrow keys
  // (a radio group: Gradio's radios are already native inputs, this only labels the group).
  const LIVE_REGIONS = ["#verdict", "#snap-verdict", "#video-verdict", "#batch-message"];
  const label = () => {
    document.querySelectorAll(".gallery-item img, [data-testid='gallery'] img").forEach((img) => {
      const b = img.closest("button");
      if (b && !b.getAttribute("aria-label")) {
        const name = decodeURIComponent((img.getAttribute("src") || "").split("/").pop() || "").replace(/\.[a-z]+$/i, "");
        if (name) b.setAttribute("aria-label", `Example photo: ${name.replace(/_/g, " ")}`);
      }
    });
    // Screen readers hear each answer and each refusal as it arrives (polite: after what they are reading).
    LIVE_REGIONS.forEach((sel) => {
      const el = document.querySelector(sel);
      if (el && !el.hasAttribute("aria-live")) {
        el.setAttribute("role", "status");
        el.setAttribute("aria-live", "polite");
      }
    });
    // A picture inside a button (Gradio's zoom) is the button's name: an unnamed one is named from its alt text.
    document.querySelectorAll("button img").forEach((img) => {
      const b = img.closest("button");
      if (b.getAttribute("aria-label") || (b.textContent || "").trim()) return;
      const alt = img.getAttribute("alt");
      if (!alt) b.setAttribute("aria-label", "Picture");
    });
    // Gradio's empty boxes carry an aria-label on a plain div (not allowed: no role); a region that scrolls on its
    // own (a wide table on a phone, a code sample) is reachable by keyboard.
    document.querySelectorAll("div.empty[aria-label]:not([role])").forEach((el) => el.removeAttribute("aria-label"));
    document.querySelectorAll(".prose table, .api-docs pre").forEach((el) => {
      if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "0");
    });
    const pick = document.querySelector("#face-pick");
    if (pick && !pick.getAttribute("role")) {
      pick.setAttribute("role", "radiogroup");
      pick.setAttribute("aria-label", "Face");
    }
  };

  // Gradio gives each radio of a group its own name, so the browser's arrow keys do not move between them: the face
  // picker gets them here (left/up: the previous face, right/down: the next).
  document.addEventListener("keydown", (ev) => {
    const input = ev.target.closest && ev.target.closest("#face-pick input[type=radio]");
    const step = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 }[ev.key];
    if (!input || !step) return;
    ev.preventDefault();
    const all = [...document.querySelectorAll("#face-pick input[type=radio]")];
    const next = all[(all.indexOf(input) + step + all.length) % all.length];
    next.click();
    next.focus();
  }, true);

  // The app shows (and the loading message of web/delivery.py goes) once it has mounted with every stylesheet
  // applied (they load without blocking the first paint; one that fails to load holds nothing back).
  const loaded = (l) => (l.sheet && l.media !== "print") || l.dataset.failed === "1";
  function markReady() {
    if (document.querySelector("#photo-input") && [...document.querySelectorAll("link[rel=stylesheet]")].every(loaded)) {
      document.documentElement.classList.add("page-ready");
    }
  }
  document.addEventListener("load", (ev) => { if (ev.target.matches && ev.target.matches("link")) setTimeout(markReady, 0); }, true);
  document.addEventListener("error", (ev) => {
    if (ev.target.matches && ev.target.matches("link[rel=stylesheet]")) {
      ev.target.dataset.failed = "1";
      markReady();
    }
  }, true);

  let scheduled = false;
  new MutationObserver(() => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      markReady();
      follow("#verdict", ".verdict");
      follow("#video-verdict", ".verdict");
      follow("#snap-verdict", ".verdict");
      fixApiPanel();
      label();
    });
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
