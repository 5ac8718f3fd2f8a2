{
  "targets": [
    {
      "target_name": "loft_fuse",
      "sources": ["loft-fuse.cc", "block-io.cc", "cdc.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<!@(pkg-config --cflags-only-I fuse3 | sed s/-I//g)"],
      "libraries": ["<!@(pkg-config --libs fuse3)"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "FUSE_USE_VERSION=312", "_FILE_OFFSET_BITS=64"]
    }
  ]
}
