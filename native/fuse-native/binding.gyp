{
  "targets": [
    {
      "target_name": "fuse",
      "sources": ["fuse-native.c"],
      "include_dirs": ["<!@(pkg-config --cflags-only-I fuse | sed s/-I//g)"],
      "libraries": ["<!@(pkg-config --libs fuse)"],
      "defines": ["_FILE_OFFSET_BITS=64"],
      "cflags": ["-g", "-O3", "-Wall"]
    }
  ]
}
