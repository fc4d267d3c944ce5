"""Everything that touches media files: streaming video, images, and the single output writer."""
