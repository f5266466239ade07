//! pycti's bundle splitter (`OpenCTIStix2Splitter`).
