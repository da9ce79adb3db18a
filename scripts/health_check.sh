#!/usr/bin/env bash
# End-to-end check of a running cslr deployment.
#
#   scripts/health_check.sh [BASE_URL] [CLIP]        e.g. scripts/health_check.sh http://localhost:8000
#
# 1. GET  /api/health               200, status "ok", model loaded
# 2. POST /api/inference/predict    a clip generated here (H.264 mp4): decoded and searched for a signer
#                                   (200, or 422 "no person" since the generated clip shows nobody);
#                                   with CLIP (a real signing video) it must be 200 with glosses
# 3. POST /api/inference/predict    generated keypoints (.npz): the model, CTC and grammar run: 200
# 4. WS   /api/ws/stream            frames as base64 JPEG, then "end": a JSON result comes back
#
# Environment: CSLR_API_KEY (sent as X-API-Key, and ?api_key= on the WebSocket), PYTHON (an interpreter
# with numpy, av and websockets; default python3 — inside the image: /opt/venv/bin/python), TIMEOUT
# (seconds per request, default 120), SKIP_WS=1 to leave out step 4.
# Exit status: 0 all checks passed, 1 a check failed, 2 bad usage or a missing tool.
set -euo pipefail

BASE=${1:-http://localhost:8000}
BASE=${BASE%/}
CLIP=${2:-${CLIP:-}}
PYTHON=${PYTHON:-python3}
TIMEOUT=${TIMEOUT:-120}
API_KEY=${CSLR_API_KEY:-}
WS_FRAMES=${WS_FRAMES:-10}

failures=0
ok() { printf 'ok    %s\n' "$*"; }
bad() { printf 'FAIL  %s\n' "$*"; failures=$((failures + 1)); }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

command -v curl >/dev/null || die "curl not found"
"$PYTHON" -c "import numpy, av, websockets" 2>/dev/null \
  || die "$PYTHON needs numpy, av and websockets (set PYTHON=/path/to/python)"
[ -z "$CLIP" ] || [ -f "$CLIP" ] || die "no such clip: $CLIP"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CURL=(curl -sS --max-time "$TIMEOUT" -o "$WORK/body" -w '%{http_code}')
[ -z "$API_KEY" ] || CURL+=(-H "X-API-Key: $API_KEY")

# http ARGS...: curl with the key and time-out; prints the HTTP status (000: no answer), body in $WORK/body.
http() {
  : >"$WORK/body"
  "${CURL[@]}" "$@" 2>"$WORK/curl.err" || true
}

# json_get FILE EXPR: evaluate a Python expression over the JSON body `j`; prints the result.
json_get() { "$PYTHON" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

check_health() {
  local code
  code=$(http "$BASE/api/health")
  [ "$code" != 000 ] || { bad "health: no answer from $BASE ($(cat "$WORK/curl.err"))"; return; }
  if [ "$code" = 200 ] && [ "$(json_get "$WORK/body" "j.get('status') == 'ok' and j.get('model_loaded')")" = True ]; then
    ok "health: model loaded on $(json_get "$WORK/body" "j.get('device')")"
  else
    bad "health: HTTP $code $(head -c 300 "$WORK/body")"
  fi
}

make_clip() {  # a 2 s 320x240 H.264 clip of a moving gradient
  "$PYTHON" - "$1" <<'EOF'
import sys
import av
import numpy as np

with av.open(sys.argv[1], "w") as out:
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    y, x = np.mgrid[0:240, 0:320]
    for i in range(50):
        rgb = np.stack([(x + 4 * i) % 256, (y + 2 * i) % 256, np.full_like(x, 128)], -1).astype(np.uint8)
        out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
    out.mux(stream.encode())
EOF
}

make_keypoints() {  # 60 frames of a standing signer moving the right hand: xyz (T,75,3), conf (T,75), fps
  "$PYTHON" - "$1" <<'EOF'
import sys
import numpy as np

rng = np.random.default_rng(0)
frames, points = 60, 75
base = rng.uniform(0.3, 0.7, (points, 3)).astype(np.float32)
base[11], base[12] = (0.6, 0.4, 0.0), (0.4, 0.4, 0.0)  # shoulders (MediaPipe pose order)
xyz = np.repeat(base[None], frames, 0)
t = np.linspace(0, 2 * np.pi, frames, dtype=np.float32)
xyz[:, 54:75, 0] += 0.1 * np.sin(t)[:, None]  # right hand waves
xyz[:, 54:75, 1] -= 0.1 * np.abs(np.sin(t))[:, None]
conf = np.ones((frames, points), np.float32)
np.savez_compressed(sys.argv[1], xyz=xyz.astype(np.float32), conf=conf, fps=np.float64(25.0))
EOF
}

predict() {  # predict FILE MIME -> sets $code; body in $WORK/body
  code=$(http -F "file=@$1;type=$2" "$BASE/api/inference/predict")
}

check_video() {
  local clip=$CLIP detail
  if [ -z "$clip" ]; then
    clip="$WORK/generated.mp4"
    make_clip "$clip" || { bad "predict video: could not generate a clip"; return; }
  fi
  predict "$clip" video/mp4
  detail=$(json_get "$WORK/body" "str(j.get('detail', '')).lower()" 2>/dev/null || true)
  if [ "$code" = 200 ]; then
    ok "predict video: \"$(json_get "$WORK/body" "j['sentence']")\" ($(json_get "$WORK/body" "j['frame_count']") frames)"
  elif [ -z "$CLIP" ] && [ "$code" = 422 ] && [[ $detail == *"no person"* ]]; then
    ok "predict video: generated clip decoded, pose searched, no signer found (expected: 422)"
  else
    bad "predict video: HTTP $code $(head -c 300 "$WORK/body")"
  fi
}

check_keypoints() {
  make_keypoints "$WORK/signer.npz" || { bad "predict keypoints: could not generate them"; return; }
  predict "$WORK/signer.npz" application/octet-stream
  if [ "$code" = 200 ] && [ "$(json_get "$WORK/body" "'gloss' in j and 'sentence' in j and j['frame_count'] == 60")" = True ]; then
    ok "predict keypoints: glosses $(json_get "$WORK/body" "j['gloss']") in $(json_get "$WORK/body" "round(sum(j['timings_ms'].values()), 1)") ms"
  else
    bad "predict keypoints: HTTP $code $(head -c 300 "$WORK/body")"
  fi
}

check_websocket() {
  local out
  if out=$("$PYTHON" - "$BASE" "$API_KEY" "$WS_FRAMES" "$TIMEOUT" 2>&1 <<'EOF'
import asyncio, base64, io, json, sys
from urllib.parse import quote

import av
import numpy as np
from websockets.asyncio.client import connect

base, key, frames, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
url = base.replace("http", "ws", 1) + "/api/ws/stream" + (f"?api_key={quote(key)}" if key else "")


def jpeg(i: int) -> bytes:
    """A 320x240 JPEG of a gradient, encoded with PyAV's MJPEG encoder."""
    y, x = np.mgrid[0:240, 0:320]
    rgb = np.stack([(x + 8 * i) % 256, y % 256, np.full_like(x, 90)], -1).astype(np.uint8)
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 240, "yuvj420p"
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])


async def main() -> None:
    async with connect(url, open_timeout=timeout, max_size=None) as ws:
        for i in range(frames):
            await ws.send(json.dumps({"type": "frame", "data": base64.b64encode(jpeg(i)).decode()}))
        await ws.send(json.dumps({"type": "end"}))
        seen = []
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            seen.append(msg.get("type"))
            if msg.get("type") == "error":
                raise SystemExit(f"server error: {msg}")
            if msg.get("type") == "final":
                print(f"messages {seen}")
                return


asyncio.run(main())
EOF
  ); then
    ok "websocket: $WS_FRAMES frames and end sent, $out"
  else
    bad "websocket: $(tail -n 3 <<<"$out")"
  fi
}

echo "checking $BASE"
check_health
check_video
check_keypoints
if [ "${SKIP_WS:-0}" = 1 ]; then echo "skip  websocket (SKIP_WS=1)"; else check_websocket; fi
if ((failures)); then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
