"""The core's datasets: the 2-D toys, the embedded digits, MNIST, CIFAR-10, image folders,
npz; ``hooks`` registers them."""
