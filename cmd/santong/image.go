package main

// imagesDir is where a data directory keeps product images (verify/image.go).
const imagesDir = "images"
