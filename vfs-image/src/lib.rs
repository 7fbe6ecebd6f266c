//! vfs-image: the image format.
#![forbid(unsafe_code)]
