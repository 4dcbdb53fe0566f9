export { DTYPE_BYTES, type SafetensorsDtype, type FloatStorageDtype } from './dtypes';
export {
  float16ToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from './half';
export {
  MAX_HEADER_BYTES,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
} from './header';
export {
  decodeSafetensors,
  encodeSafetensors,
  type LoadedSafetensors,
  type SaveSafetensorsOptions,
  type TensorDict,
} from './codec';
export { loadSafetensors, readSafetensorsHeader, saveSafetensors, SafetensorsFile } from './file';
