"""Deployment: ONNX export with self-describing metadata, its verification, and the ONNX Runtime loader."""
