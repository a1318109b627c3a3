"""Checks an ONNX file that `convkit export` wrote and runs it with ONNX Runtime.

    python scripts/onnx_check.py MODEL.onnx IMAGES.f32

IMAGES.f32 holds N images as little-endian float32, pixels already divided by 255, in the
shape the graph's `image` input gives (N, C, H, W). Prints one JSON object: the operators,
the metadata, the graph's input and output shapes, and `outputs`, one row per image. Exits
non-zero if onnx.checker rejects the model. ConvKit's ONNX tests run this (ONNXExportTests).
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main(model_path, images_path):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)  # full_check also infers every shape

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    shape = dims(model.graph.input[0])[1:]
    images = np.fromfile(images_path, dtype="<f4").reshape([-1] + shape)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    (outputs,) = session.run(["outputs"], {"image": images})
    print(json.dumps({
        "opset": [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")],
        "operators": [n.op_type for n in model.graph.node],
        "metadata": {p.key: p.value for p in model.metadata_props},
        "input": {"name": model.graph.input[0].name, "shape": dims(model.graph.input[0])},
        "output": {"name": model.graph.output[0].name, "shape": dims(model.graph.output[0])},
        "outputs": outputs.astype(float).tolist(),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
