// HDF5's C API (Debian: libhdf5-dev, pkg-config `hdf5`).
//
// Many of HDF5's constants are macros that Swift cannot import (H5P_DEFAULT, H5F_ACC_*,
// H5S_ALL) or that expand to mutable `_g` globals, which Swift 6 rejects as shared mutable
// state (H5T_NATIVE_*). These inline functions hand their values to Swift.
#include <hdf5.h>

static inline hid_t uniseg_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t uniseg_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t uniseg_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline unsigned uniseg_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned uniseg_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned uniseg_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline hid_t uniseg_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t uniseg_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
static inline hid_t uniseg_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t uniseg_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t uniseg_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t uniseg_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t uniseg_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t uniseg_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t uniseg_H5T_STD_U8LE(void) { return H5T_STD_U8LE; }
static inline hid_t uniseg_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t uniseg_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t uniseg_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t uniseg_H5T_NATIVE_UINT32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t uniseg_H5T_NATIVE_UINT16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t uniseg_H5T_STD_I32LE(void) { return H5T_STD_I32LE; }
static inline hid_t uniseg_H5T_STD_U32LE(void) { return H5T_STD_U32LE; }
static inline hid_t uniseg_H5T_STD_U16LE(void) { return H5T_STD_U16LE; }
static inline size_t uniseg_H5T_VARIABLE(void) { return H5T_VARIABLE; }

/// A variable-length UTF-8 string type (what h5py writes for `str`); close it with H5Tclose.
static inline hid_t uniseg_vlen_utf8_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/// Turns off HDF5's printing of its error stack: the Swift wrapper reports errors itself.
static inline void uniseg_H5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
