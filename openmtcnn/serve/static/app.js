// openmtcnn web page: send the photo to POST v1/detect, draw boxes and the five points, list the faces.
"use strict";

const SLIDERS = ["min_face_size", "pnet_threshold", "rnet_threshold", "onet_threshold"];
const COLORS = ["#e53935", "#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#fdd835", "#6d4c41"];
const POINT_COLORS = ["#00e5ff", "#00e5ff", "#ffea00", "#ff4081", "#ff4081"]; // eyes, nose, mouth corners

const $ = (id) => document.getElementById(id);
const canvas = $("canvas"), ctx = canvas.getContext("2d");
let photo = null;     // {blob, name, bitmap}: the image being looked at
let pending = null;   // the request in flight (aborted when a newer one starts)
let timer = null;

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function query() {
  const q = new URLSearchParams({ crops: "true" });
  for (const id of SLIDERS) q.set(id, $(id).value);
  return q.toString();
}

async function detect() {
  if (!photo) return;
  if (pending) pending.abort();
  pending = new AbortController();
  setStatus("Detecting…");
  const t0 = performance.now();
  try {
    const resp = await fetch("v1/detect?" + query(), {
      method: "POST",
      headers: { "Content-Type": photo.blob.type && photo.blob.type.startsWith("image/") ? photo.blob.type : "image/jpeg" },
      body: photo.blob,
      signal: pending.signal,
    });
    const body = await resp.json();
    if (!resp.ok) {
      setStatus(`Error ${resp.status}: ${body.error}`, true);
      showFaces([]);
      draw([]);
      return;
    }
    draw(body.faces);
    showFaces(body.faces);
    const n = body.faces.length;
    setStatus(`${n} face${n === 1 ? "" : "s"} in ${photo.name} (${body.width} × ${body.height}), ${Math.round(performance.now() - t0)} ms`);
  } catch (e) {
    if (e.name !== "AbortError") setStatus("Request failed: " + e.message, true);
  }
}

function draw(faces) {
  const img = photo.bitmap;
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.style.display = "block";
  ctx.drawImage(img, 0, 0);
  const line = Math.max(2, Math.round(Math.max(img.width, img.height) / 400));
  faces.forEach((f, i) => {
    const [x1, y1, x2, y2] = f.box;
    ctx.lineWidth = line;
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.fillStyle = COLORS[i % COLORS.length];
    ctx.font = `${6 * line + 4}px system-ui, sans-serif`;
    ctx.fillText(`${i + 1}`, x1 + line, y1 - 2 * line);
    Object.values(f.landmarks).forEach(([x, y], k) => {
      ctx.beginPath();
      ctx.fillStyle = POINT_COLORS[k];
      ctx.arc(x, y, 1.5 * line, 0, 2 * Math.PI);
      ctx.fill();
    });
  });
  canvas.dataset.facesDrawn = String(faces.length);
}

function showFaces(faces) {
  const list = $("faces");
  list.replaceChildren();
  const stem = photo ? photo.name.replace(/\.[^.]*$/, "") : "face";
  faces.forEach((f, i) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLORS[i % COLORS.length];
    li.append(swatch);
    if (f.crop) {
      const url = "data:image/png;base64," + f.crop;
      const img = document.createElement("img");
      img.src = url;
      img.alt = `aligned face ${i + 1}`;
      const a = document.createElement("a");
      a.href = url;
      a.download = `${stem}_${i + 1}.png`;
      a.textContent = "download";
      li.append(img);
      li.append(`face ${i + 1}, score ${f.score.toFixed(3)} `);
      li.append(a);
    } else {
      li.append(`face ${i + 1}, score ${f.score.toFixed(3)}`);
    }
    list.append(li);
  });
}

async function usePhoto(blob, name) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  } catch (e) {
    setStatus(`${name}: the browser cannot show this file as an image`, true);
    return;
  }
  photo = { blob, name, bitmap };
  await detect();
}

function rerunSoon() {
  for (const id of SLIDERS) $(id + "_v").textContent = $(id).value;
  clearTimeout(timer);
  timer = setTimeout(detect, 250);
}

// file picker and drag and drop
$("file").addEventListener("change", (e) => {
  const f = e.target.files[0];
  if (f) usePhoto(f, f.name);
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const f = e.dataTransfer.files[0];
  if (f) usePhoto(f, f.name);
});

// webcam snapshot, where the browser allows it (a secure context: https or localhost)
if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  const video = $("video");
  $("camera").hidden = false;
  $("camera").addEventListener("click", async () => {
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
      video.style.display = "block";
      $("snap").hidden = false;
    } catch (e) {
      setStatus("Webcam not available: " + e.message, true);
    }
  });
  $("snap").addEventListener("click", () => {
    const c = document.createElement("canvas");
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    c.getContext("2d").drawImage(video, 0, 0);
    c.toBlob((blob) => usePhoto(blob, `webcam-${new Date().toISOString().replace(/[:.]/g, "-")}.jpg`), "image/jpeg", 0.92);
  });
}

for (const id of SLIDERS) $(id).addEventListener("input", rerunSoon);
for (const id of SLIDERS) $(id + "_v").textContent = $(id).value;

// the sliders start at the server's defaults
fetch("healthz").then((r) => r.json()).then(({ config }) => {
  const start = { min_face_size: config.min_face_size, pnet_threshold: config.thresholds[0],
                  rnet_threshold: config.thresholds[1], onet_threshold: config.thresholds[2] };
  for (const id of SLIDERS) { $(id).value = start[id]; $(id + "_v").textContent = $(id).value; }
}).catch(() => {});
