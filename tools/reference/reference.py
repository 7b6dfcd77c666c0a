#!/usr/bin/env python3
"""Independent reference for Shiren's face engine.

Reproduces InsightFace's classic pipeline with Python onnxruntime and the same ONNX files:
OpenCV decode (EXIF applied), one SCRFD pass on a top-left letterbox (OpenCV bilinear resize),
anchor decoding, NMS, then the 5 keypoints aligned to the ArcFace template with scikit-image's
SimilarityTransform and cv2.warpAffine, and the 106-point landmark crop. Nothing here is shared
with the Rust code: it is the yardstick the Rust engine is tested against.

    reference.py fixtures --models DIR --images DIR --out FILE   # writes the test fixture JSON
    reference.py bench --models DIR A.jpg B.jpg                  # per-stage medians, one thread

Needs: onnxruntime==1.31.1, opencv-python-headless<5, scikit-image, numpy.
"""

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from skimage import transform as skt

ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


THREADS = 1


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class Scrfd:
    def __init__(self, path, size=640, threshold=0.5, nms=0.4):
        self.session = session(path)
        self.input = self.session.get_inputs()[0].name
        self.size = size
        self.threshold = threshold
        self.nms_threshold = nms
        self.centers = {}

    def letterbox(self, img):
        h, w = img.shape[:2]
        if h / w > 1.0:
            new_h = self.size
            new_w = int(new_h / (h / w))
        else:
            new_w = self.size
            new_h = int(new_w * (h / w))
        scale = new_h / h
        canvas = np.zeros((self.size, self.size, 3), dtype=np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(img, (new_w, new_h))
        return canvas, scale

    def run(self, canvas):
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128, (self.size, self.size), (127.5, 127.5, 127.5), swapRB=True)
        return self.session.run(None, {self.input: blob})

    def decode(self, outputs, scale):
        scores_all, boxes_all, kps_all = [], [], []
        for index, stride in enumerate((8, 16, 32)):
            scores = outputs[index][0].reshape(-1)
            boxes = outputs[index + 3][0] * stride
            kps = outputs[index + 6][0] * stride
            fh, fw = self.size // stride, self.size // stride
            key = (fh, fw, stride)
            if key not in self.centers:
                grid = np.stack(np.mgrid[:fh, :fw][::-1], axis=-1).astype(np.float32)
                grid = (grid * stride).reshape(-1, 2)
                self.centers[key] = np.stack([grid] * 2, axis=1).reshape(-1, 2)
            centers = self.centers[key]
            keep = np.where(scores >= self.threshold)[0]
            x1y1 = centers - boxes[:, 0:2]
            x2y2 = centers + boxes[:, 2:4]
            decoded = np.concatenate([x1y1, x2y2], axis=1)
            points = np.concatenate(
                [centers[:, None, :] + kps.reshape(-1, 5, 2)[:, :, :]], axis=1
            ).reshape(-1, 10)
            scores_all.append(scores[keep])
            boxes_all.append(decoded[keep])
            kps_all.append(points[keep])
        scores = np.concatenate(scores_all)
        order = scores.argsort()[::-1]
        boxes = np.concatenate(boxes_all)[order] / scale
        kps = np.concatenate(kps_all)[order] / scale
        scores = scores[order]
        keep = nms(np.hstack([boxes, scores[:, None]]), self.nms_threshold)
        return boxes[keep], scores[keep], kps[keep].reshape(-1, 5, 2)

    def detect(self, img):
        canvas, scale = self.letterbox(img)
        return self.decode(self.run(canvas), scale)


def nms(dets, threshold):
    x1, y1, x2, y2, scores = dets.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        overlap = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(overlap <= threshold)[0] + 1]
    return keep


def align(img, kps):
    # InsightFace's norm_crop: scikit-image's least-squares similarity, estimated in float32.
    tform = skt.SimilarityTransform()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        tform.estimate(kps.astype(np.float32), ARCFACE_TEMPLATE)
    return cv2.warpAffine(img, tform.params[0:2, :], (112, 112), borderValue=0.0)


class Recognizer:
    def __init__(self, path):
        self.session = session(path)
        self.input = self.session.get_inputs()[0].name

    def embed(self, crop):
        blob = cv2.dnn.blobFromImage(crop, 1.0 / 127.5, (112, 112), (127.5, 127.5, 127.5), swapRB=True)
        vector = self.session.run(None, {self.input: blob})[0][0]
        return vector / np.linalg.norm(vector)


class Landmarks106:
    def __init__(self, path):
        self.session = session(path)
        self.input = self.session.get_inputs()[0].name

    def predict(self, img, box):
        w, h = box[2] - box[0], box[3] - box[1]
        cx, cy = (box[2] + box[0]) / 2, (box[3] + box[1]) / 2
        scale = 192 / (max(w, h) * 1.5)
        matrix = np.array([[scale, 0, 96 - cx * scale], [0, scale, 96 - cy * scale]], dtype=np.float64)
        crop = cv2.warpAffine(img, matrix, (192, 192), borderValue=0.0)
        blob = cv2.dnn.blobFromImage(crop, 1.0, (192, 192), (0.0, 0.0, 0.0), swapRB=True)
        points = self.session.run(None, {self.input: blob})[0][0].reshape(-1, 2)
        points = (points + 1) * 96
        inverse = cv2.invertAffineTransform(matrix)
        return points @ inverse[:, :2].T + inverse[:, 2]


def load(models):
    face = Path(models) / "face"
    return (
        Scrfd(face / "scrfd_500m_bnkps.onnx"),
        Recognizer(face / "w600k_mbf.onnx"),
        Landmarks106(face / "2d106det.onnx"),
    )


def fixtures(args):
    detector, recognizer, landmarks = load(args.models)
    detector.size = args.det_size
    out = {
        "generator": "tools/reference/reference.py",
        "settings": {"det_size": args.det_size, "det_threshold": 0.5, "nms_threshold": 0.4},
        "versions": {"onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__},
        "images": {},
    }
    for name in args.names:
        img = cv2.imread(str(Path(args.images) / name))
        boxes, scores, kps = detector.detect(img)
        faces = []
        for box, score, points in zip(boxes, scores, kps):
            faces.append(
                {
                    "box": [round(float(v), 3) for v in box],
                    "score": round(float(score), 5),
                    "landmarks": [[round(float(x), 3), round(float(y), 3)] for x, y in points],
                    "landmarks106": [
                        [round(float(x), 2), round(float(y), 2)] for x, y in landmarks.predict(img, box)
                    ],
                    "embedding": [round(float(v), 6) for v in recognizer.embed(align(img, points))],
                }
            )
        out["images"][name] = {"width": img.shape[1], "height": img.shape[0], "faces": faces}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


def bench(args):
    global THREADS
    THREADS = args.threads
    detector, recognizer, _ = load(args.models)
    detector.size = args.det_size
    blobs = [Path(p).read_bytes() for p in (args.a, args.b)]
    stages = {k: [] for k in ("decode", "letterbox", "detect_model", "detect_post", "align", "embed_model", "total")}
    for _ in range(args.runs):
        start_total = time.perf_counter()
        vectors = []
        for data in blobs:
            t = time.perf_counter()
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            stages["decode"].append(time.perf_counter() - t)
            t = time.perf_counter()
            canvas, scale = detector.letterbox(img)
            stages["letterbox"].append(time.perf_counter() - t)
            t = time.perf_counter()
            outputs = detector.run(canvas)
            stages["detect_model"].append(time.perf_counter() - t)
            t = time.perf_counter()
            boxes, scores, kps = detector.decode(outputs, scale)
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            largest = int(np.argmax(areas))
            stages["detect_post"].append(time.perf_counter() - t)
            t = time.perf_counter()
            crop = align(img, kps[largest])
            stages["align"].append(time.perf_counter() - t)
            t = time.perf_counter()
            vectors.append(recognizer.embed(crop))
            stages["embed_model"].append(time.perf_counter() - t)
        similarity = float(np.dot(vectors[0], vectors[1]))
        stages["total"].append(time.perf_counter() - start_total)
    print(f"python reference, det {args.det_size}, {args.threads} intra-op thread(s), {args.runs} runs, similarity {similarity:.4f}")
    for name, values in stages.items():
        per = "per compare" if name == "total" else "per image"
        print(f"  {name:<13} median {statistics.median(values) * 1000:8.2f} ms ({per})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fx = sub.add_parser("fixtures")
    fx.add_argument("--models", required=True)
    fx.add_argument("--images", required=True)
    fx.add_argument("--out", required=True)
    fx.add_argument("--det-size", type=int, default=640)
    fx.add_argument(
        "names",
        nargs="*",
        default=["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg"],
    )
    bn = sub.add_parser("bench")
    bn.add_argument("--models", required=True)
    bn.add_argument("--det-size", type=int, default=640)
    bn.add_argument("--runs", type=int, default=30)
    bn.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    bn.add_argument("a")
    bn.add_argument("b")
    args = parser.parse_args()
    {"fixtures": fixtures, "bench": bench}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
