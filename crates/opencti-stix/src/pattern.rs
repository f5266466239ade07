//! STIX patterns: building canonical patterns and extracting equalities.
