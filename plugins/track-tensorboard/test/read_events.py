"""Reads a TensorBoard event file with Google's protobuf runtime (python3-protobuf), for
a check independent of the JavaScript writer and reader: TFRecord framing with both
masked CRC-32Cs verified, then each record parsed as tensorflow.Event (the field numbers
of tensorflow/core/util/event.proto and summary.proto). Prints one JSON object per event.

Usage: python3 read_events.py <events.out.tfevents.*>
"""
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def _event_class():
    fd = descriptor_pb2.FileDescriptorProto(name="leantune_check_event.proto", package="tensorflow", syntax="proto3")
    summary = fd.message_type.add(name="Summary")
    value = summary.nested_type.add(name="Value")
    value.field.add(name="tag", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    value.field.add(name="simple_value", number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
    summary.field.add(name="value", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED, type_name=".tensorflow.Summary.Value")
    event = fd.message_type.add(name="Event")
    event.field.add(name="wall_time", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    event.field.add(name="step", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    event.field.add(name="file_version", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    event.field.add(name="summary", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name=".tensorflow.Summary")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("tensorflow.Event"))


def _masked_crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    crc ^= 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def main(path):
    Event = _event_class()
    data = open(path, "rb").read()
    at = 0
    while at < len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        (length_crc,) = struct.unpack_from("<I", data, at + 8)
        assert length_crc == _masked_crc32c(data[at : at + 8]), f"bad length CRC at byte {at}"
        record = data[at + 12 : at + 12 + length]
        (data_crc,) = struct.unpack_from("<I", data, at + 12 + length)
        assert data_crc == _masked_crc32c(record), f"bad data CRC at byte {at}"
        event = Event()
        event.ParseFromString(record)
        out = {"wall_time": event.wall_time, "step": event.step}
        if event.file_version:
            out["file_version"] = event.file_version
        if event.HasField("summary"):
            out["scalars"] = {v.tag: v.simple_value for v in event.summary.value}
        print(json.dumps(out))
        at += 12 + length + 4


if __name__ == "__main__":
    main(sys.argv[1])
