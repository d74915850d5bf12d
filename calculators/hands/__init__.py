"""hands calculators. ``CALCULATORS`` maps registered names to their classes, imported lazily."""

CALCULATORS: dict[str, str] = {
    "ImageToTensor": "calculators.hands.image_to_tensor_calculator:ImageToTensorCalculator",
    "PalmDetectionModel": "calculators.hands.palm_detection_calculator:PalmDetectionModelCalculator",
    "TensorsToPalmDetections": "calculators.hands.palm_detection_calculator:TensorsToPalmDetectionsCalculator",
    "HandLandmarkModel": "calculators.hands.hand_landmark_calculator:HandLandmarkModelCalculator",
    "TensorsToHandLandmarks": "calculators.hands.hand_landmark_calculator:TensorsToHandLandmarksCalculator",
    "PalmDetectionGate": "calculators.hands.roi_calculators:PalmDetectionGateCalculator",
    "PalmDetectionsToRois": "calculators.hands.roi_calculators:PalmDetectionsToRoisCalculator",
    "HandLandmarksToRois": "calculators.hands.roi_calculators:HandLandmarksToRoisCalculator",
    "AssociateHandRois": "calculators.hands.roi_calculators:AssociateHandRoisCalculator",
    "MergeHandPasses": "calculators.hands.roi_calculators:MergeHandPassesCalculator",
    "HandGestures": "calculators.hands.gesture_calculator:HandGesturesCalculator",
    "GestureOverlay": "calculators.hands.gesture_overlay_calculator:GestureOverlayCalculator",
    "HandLandmarksSmoothing": "calculators.hands.smoothing_calculator:HandLandmarksSmoothingCalculator",
}
