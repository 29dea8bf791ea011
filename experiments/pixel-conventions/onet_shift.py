"""O-Net on the annotated (squared) box of every landmark test face, error against a shift d of all points (px), and the mean offset
ground truth - prediction: whether a weight set reads the list's convention with a bias. Run from the repository root."""
import numpy as np, cv2
from openmtcnn.datasets.landmarks import read_landmark_list
from openmtcnn.evaluate.landmarks import onet_points
from openmtcnn.ops.landmarks import normalised_errors
from openmtcnn.detect.backends import make_backend
faces = read_landmark_list('/work/main/data/landmarks/testImageList.txt')
for W in ['/work/main/weights/original', '/work/main/openmtcnn/weights/default']:
    be = make_backend('onnx', W)
    pred, gt = [], []
    for f in faces:
        im = cv2.imread('/work/main/data/landmarks/' + f.path)[:, :, ::-1].copy()
        pred.append(onet_points(be, im, f.box[None])[0]); gt.append(f.points)
    pred, gt = np.array(pred), np.array(gt)
    print(W, ' '.join('d=%+.2f: %.3f%%' % (d, 100 * normalised_errors(pred + d, gt).mean()) for d in (-0.5, -0.25, 0, 0.25, 0.5)))
    print('  mean (gt - pred) x, y px: %.3f %.3f' % tuple((gt - pred).reshape(-1, 2).mean(0)))
