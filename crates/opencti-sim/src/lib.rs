//! A local stand-in for the connector-facing side of the OpenCTI platform.
