// cslr live captions: camera -> (server-side or in-browser pose) -> WS /api/ws/stream -> captions.
// Protocol: docs/streaming.md. No third-party code is loaded from the network; the optional in-browser
// MediaPipe Holistic build is served by this server from /static/node_modules (npm install, see README).
"use strict";

const FPS = 25;                          // frames sent per second (the model's frame rate)
const SEND_WIDTH = 320;                  // frames are scaled to this width before JPEG encoding
const JPEG_QUALITY = 0.7;
const MAX_BUFFERED_BYTES = 256 * 1024;   // skip a frame while the socket is this far behind
const HOLISTIC_BASE = "/static/node_modules/@mediapipe/holistic/";
const NUM_POINTS = 75, LEFT_HAND = 33, RIGHT_HAND = 54;
const BODY_EDGES = [[11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24],
                    [15, 17], [15, 19], [16, 18], [16, 20], [0, 11], [0, 12]];
const HAND_EDGES = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9], [9, 10],
                    [10, 11], [11, 12], [9, 13], [13, 14], [14, 15], [15, 16], [13, 17], [17, 18],
                    [18, 19], [19, 20], [0, 17]];

const $ = (id) => document.getElementById(id);
const live = {
  ws: null, timer: null, seq: 0, configured: false, encoding: false, posing: false, holistic: null,
  stats: { sent: 0, results: 0, partials: 0, finals: 0, poses: 0, latencyMs: null, dropped: 0 },
  finals: [], ready: null, errors: [],
};
window.cslrLive = live;  // inspected by the browser test and handy for debugging

function setStatus(text) { $("status").textContent = text; }

function socketUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const key = new URLSearchParams(location.search).get("key");
  return `${proto}//${location.host}/api/ws/stream` + (key ? `?api_key=${encodeURIComponent(key)}` : "");
}

async function start() {
  const poseMode = $("pose-mode").value;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    setStatus(`Camera unavailable: ${err.message}`);
    return;
  }
  $("video").srcObject = stream;
  await $("video").play();
  if (poseMode === "browser" && !(await loadHolistic())) {
    $("pose-mode").value = "server";
    setStatus("In-browser pose unavailable here; using server-side pose.");
  }
  connect();
  $("start").disabled = true;
  $("stop").disabled = false;
}

function connect() {
  live.configured = false;
  live.ws = new WebSocket(socketUrl());
  live.ws.binaryType = "arraybuffer";
  live.ws.onmessage = (event) => onMessage(JSON.parse(event.data));
  live.ws.onclose = (event) => { setStatus(`Disconnected (${event.code} ${event.reason || ""})`); stopCapture(); };
  live.ws.onopen = () => setStatus("Connected; waiting for the server…");
}

// A model with an RGB stream reads the camera frames themselves: the server says so in `ready.inputs`.
function needsFrames() {
  const inputs = live.ready && live.ready.inputs;
  return Array.isArray(inputs) && !inputs.includes("keypoints");
}

function configure() {
  const mode = $("stream-mode").value;
  const msg = { type: "config", send_pose: $("pose-mode").value === "server" || needsFrames() };
  if (mode !== "auto") msg.mode = mode;
  live.ws.send(JSON.stringify(msg));
  live.configured = true;
}

function onMessage(msg) {
  switch (msg.type) {
    case "ready":
      live.ready = msg;
      if (!live.configured) { configure(); return; }
      setStatus(`Live: ${msg.mode} mode, ${msg.fps} fps, ` + (needsFrames()
        ? "camera frames sent (this model reads the video itself; pose on the server)."
        : `pose ${$("pose-mode").value === "server" ? "on the server" : "in the browser"}.`));
      startCapture();
      break;
    case "pose": live.stats.poses++; drawSkeleton(msg.xy, msg.conf); break;
    case "partial": case "final": showResult(msg); break;
    case "warning": setStatus(`Warning: ${msg.message}`); break;
    case "error": live.errors.push(msg); setStatus(`Error: ${msg.message}`); break;
  }
}

function showResult(msg) {
  const s = live.stats;
  s.results++;
  s[msg.type === "final" ? "finals" : "partials"]++;
  s.latencyMs = msg.latency_ms;
  s.dropped = msg.dropped;
  $("stat-results").textContent = s.results;
  $("stat-latency").textContent = msg.latency_ms == null ? "–" : `${msg.latency_ms.toFixed(0)} ms`;
  $("stat-dropped").textContent = s.dropped;
  if (msg.type === "final") {
    if (msg.gloss.length) {
      live.finals.push(msg);
      const span = document.createElement("span");
      span.className = "final";
      span.textContent = msg.sentence + " ";
      $("finals").appendChild(span);
    }
    $("partial").textContent = "";
  } else {
    $("partial").textContent = msg.sentence;
  }
  renderTimeline(msg.type === "final" ? [] : msg.segments);
}

function renderTimeline(openSegments) {
  const list = $("timeline");
  list.replaceChildren();
  const add = (seg, open) => {
    const li = document.createElement("li");
    li.className = open ? "open" : "";
    li.textContent = `${seg.gloss} ${seg.start.toFixed(1)}–${seg.end.toFixed(1)} s (${Math.round(seg.confidence * 100)}%)`;
    list.appendChild(li);
  };
  live.finals.slice(-5).forEach((f) => f.segments.forEach((seg) => add(seg, false)));
  openSegments.forEach((seg) => add(seg, true));
}

function startCapture() {
  if (live.timer) return;
  live.timer = setInterval(tick, 1000 / FPS);
}

function stopCapture() {
  clearInterval(live.timer);
  live.timer = null;
}

function tick() {
  const ws = live.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > MAX_BUFFERED_BYTES) return;
  if (live.holistic && $("pose-mode").value === "browser" && !needsFrames()) sendBrowserPose();
  else sendFrame();
}

function sendFrame() {
  if (live.encoding) return;  // the previous frame is still being encoded: skip this one
  const video = $("video");
  if (!video.videoWidth) return;
  const canvas = sendFrame.canvas || (sendFrame.canvas = document.createElement("canvas"));
  canvas.width = SEND_WIDTH;
  canvas.height = Math.round(SEND_WIDTH * video.videoHeight / video.videoWidth);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  live.encoding = true;
  canvas.toBlob(async (blob) => {
    live.encoding = false;
    if (!blob || live.ws.readyState !== WebSocket.OPEN) return;
    live.ws.send(await blob.arrayBuffer());
    live.seq++;
    $("stat-sent").textContent = ++live.stats.sent;
  }, "image/jpeg", JPEG_QUALITY);
}

// ---------------------------------------------------------------- in-browser pose (MediaPipe WASM)

function loadHolistic() {
  return new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = HOLISTIC_BASE + "holistic.js";
    script.onerror = () => resolve(false);
    script.onload = async () => {
      try {
        const holistic = new window.Holistic({ locateFile: (file) => HOLISTIC_BASE + file });
        holistic.setOptions({ modelComplexity: 1, smoothLandmarks: true, minDetectionConfidence: 0.5,
                              minTrackingConfidence: 0.5 });
        holistic.onResults(onHolisticResults);
        await holistic.initialize();
        live.holistic = holistic;
        resolve(true);
      } catch (err) {
        console.warn("MediaPipe Holistic failed to start:", err);
        resolve(false);
      }
    };
    document.head.appendChild(script);
  });
}

async function sendBrowserPose() {
  if (live.posing) return;
  live.posing = true;
  try { await live.holistic.send({ image: $("video") }); } finally { live.posing = false; }
}

function onHolisticResults(results) {
  const xyz = Array.from({ length: NUM_POINTS }, () => [0, 0, 0]);
  const conf = new Array(NUM_POINTS).fill(0);
  const put = (landmarks, offset, useVisibility) => {
    (landmarks || []).forEach((p, i) => {
      xyz[offset + i] = [p.x, p.y, p.z];
      conf[offset + i] = useVisibility && p.visibility !== undefined ? p.visibility : 1;
    });
  };
  put(results.poseLandmarks, 0, true);
  put(results.leftHandLandmarks, LEFT_HAND, false);
  put(results.rightHandLandmarks, RIGHT_HAND, false);
  drawSkeleton(xyz.map((p) => [p[0], p[1]]), conf);
  if (live.ws && live.ws.readyState === WebSocket.OPEN) {
    live.ws.send(JSON.stringify({ type: "keypoints", seq: live.seq++, xyz, conf }));
    $("stat-sent").textContent = ++live.stats.sent;
  }
}

// ---------------------------------------------------------------- drawing

function drawSkeleton(xy, conf) {
  const canvas = $("overlay");
  const video = $("video");
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 480;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const line = (edges, offset, color) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 3;
    for (const [a, b] of edges) {
      if (conf[offset + a] < 0.5 || conf[offset + b] < 0.5) continue;
      ctx.beginPath();
      ctx.moveTo(xy[offset + a][0] * canvas.width, xy[offset + a][1] * canvas.height);
      ctx.lineTo(xy[offset + b][0] * canvas.width, xy[offset + b][1] * canvas.height);
      ctx.stroke();
    }
  };
  line(BODY_EDGES, 0, "#00c8ff");
  line(HAND_EDGES, LEFT_HAND, "#ff5a5a");
  line(HAND_EDGES, RIGHT_HAND, "#7dff5a");
}

function stop() {
  stopCapture();
  if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({ type: "end" }));
  const video = $("video");
  if (video.srcObject) video.srcObject.getTracks().forEach((t) => t.stop());
  $("start").disabled = false;
  $("stop").disabled = true;
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
const params = new URLSearchParams(location.search);
if (params.get("pose")) $("pose-mode").value = params.get("pose");
if (params.get("mode")) $("stream-mode").value = params.get("mode");
if (params.get("autostart")) start();
