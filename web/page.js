// Page behaviours Gradio does not have: say why the camera does not start, stop the live stream when you leave the
// Live tab, and bring the answer into view on a phone. Loaded once in <head> (web/server.py).
(() => {
  const streams = new Set();      // camera streams this page opened
  const liveEvents = new Map();   // Gradio stream events (live webcam) the page is sending frames to: id → URL
  let liveActive = false;

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

  // Live frames go to /gradio_api/stream/<event id>; remember the ids so leaving the tab can close them.
  const fetch0 = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const url = typeof input === "string" ? input : (input && input.url) || "";
    const m = url.match(/\/gradio_api\/stream\/([0-9a-f]+)(\/close)?$/);
    if (m && !m[2]) {
      if (!liveActive) {  // a frame after the visitor left Live mode: do not send it
        return Promise.resolve(new Response(JSON.stringify({ msg: "stopped" }), { status: 200 }));
      }
      liveEvents.set(m[1], url);
    }
    return fetch0(input, init);
  };

  function stopLive() {
    streams.forEach((s) => s.getTracks().forEach((t) => t.stop()));
    streams.clear();
    liveEvents.forEach((url) => fetch0(`${url}/close`, { method: "POST" }).catch(() => {}));
    liveEvents.clear();
  }

  // Which tab is showing: Live mode is active only while its tab (and the Webcam tab around it) is selected.
  document.addEventListener("click", (ev) => {
    const tab = ev.target.closest && ev.target.closest("button[role='tab']");
    if (!tab) return;
    const name = tab.textContent.trim();
    const nowLive = name === "Live";
    if (liveActive && !nowLive) stopLive();
    liveActive = nowLive;
  }, true);

  // On a phone the answer sits below the photo: bring it into view when it arrives.
  const narrow = () => window.matchMedia("(max-width: 768px)").matches;
  const watched = new WeakSet();
  const observe = () => {
    const v = document.querySelector("#verdict");
    if (!v || watched.has(v)) return;
    watched.add(v);
    new MutationObserver(() => {
      if (narrow() && v.querySelector(".verdict")) v.scrollIntoView({ behavior: "smooth", block: "center" });
    }).observe(v, { childList: true, subtree: true });
  };
  new MutationObserver(observe).observe(document.documentElement, { childList: true, subtree: true });
})();
