# Devices of the x86_64 emulator built by build-qemu.sh (configured with
# --without-default-devices): q35, CXL host bridge / root ports / switch
# ports / type 3 memory, and what a guest needs to boot from a disk image.
CONFIG_Q35=y
CONFIG_PXB=y
CONFIG_CXL=y
CONFIG_CXL_MEM_DEVICE=y
CONFIG_PCIE_PORT=y
CONFIG_SERIAL_ISA=y
CONFIG_VGA_PCI=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_BLK=y
CONFIG_VIRTIO_NET=y
CONFIG_VIRTIO_RNG=y
CONFIG_VIRTIO_SERIAL=y
CONFIG_E1000E_PCI_EXPRESS=y
