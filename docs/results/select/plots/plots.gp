# Plots of `signopt report`; rerun with: cd docs/results/select/plots && gnuplot plots.gp
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-test-accuracy.png'

# fashion-mnist: test accuracy per epoch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: test accuracy per epoch (mean over seeds, band: min..max)'
set xlabel 'epoch'
set ylabel 'test accuracy (%)'
set grid
set key bottom right box opaque
set xtics 1
plot 'fashion-mnist-test-accuracy.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-test-accuracy.dat' index 0 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 1 title 'sgd lr=0.01', \
     'fashion-mnist-test-accuracy.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-test-accuracy.dat' index 1 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 2 title 'sgd lr=0.03', \
     'fashion-mnist-test-accuracy.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-test-accuracy.dat' index 2 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 3 title 'sgd lr=0.1', \
     'fashion-mnist-test-accuracy.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-test-accuracy.dat' index 3 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 4 title 'sgd lr=0.3', \
     'fashion-mnist-test-accuracy.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 5 notitle, \
     'fashion-mnist-test-accuracy.dat' index 4 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 5 title 'adam lr=0.0003', \
     'fashion-mnist-test-accuracy.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 6 notitle, \
     'fashion-mnist-test-accuracy.dat' index 5 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 6 title 'adam lr=0.001', \
     'fashion-mnist-test-accuracy.dat' index 6 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 7 notitle, \
     'fashion-mnist-test-accuracy.dat' index 6 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 7 title 'adam lr=0.003', \
     'fashion-mnist-test-accuracy.dat' index 7 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 8 notitle, \
     'fashion-mnist-test-accuracy.dat' index 7 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 8 title 'adam lr=0.01', \
     'fashion-mnist-test-accuracy.dat' index 8 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 9 notitle, \
     'fashion-mnist-test-accuracy.dat' index 8 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 9 title 'signum lr=0.0003', \
     'fashion-mnist-test-accuracy.dat' index 9 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 10 notitle, \
     'fashion-mnist-test-accuracy.dat' index 9 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 10 title 'signum lr=0.001', \
     'fashion-mnist-test-accuracy.dat' index 10 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 11 notitle, \
     'fashion-mnist-test-accuracy.dat' index 10 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 11 title 'signum lr=0.003', \
     'fashion-mnist-test-accuracy.dat' index 11 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 12 notitle, \
     'fashion-mnist-test-accuracy.dat' index 11 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 12 title 'dithered-signum lr=0.0003', \
     'fashion-mnist-test-accuracy.dat' index 12 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 13 notitle, \
     'fashion-mnist-test-accuracy.dat' index 12 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 13 title 'dithered-signum lr=0.001', \
     'fashion-mnist-test-accuracy.dat' index 13 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 14 notitle, \
     'fashion-mnist-test-accuracy.dat' index 13 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 14 title 'dithered-signum lr=0.003', \
     'fashion-mnist-test-accuracy.dat' index 14 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 15 notitle, \
     'fashion-mnist-test-accuracy.dat' index 14 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 15 title 'hybrid lr=0.0003', \
     'fashion-mnist-test-accuracy.dat' index 15 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 16 notitle, \
     'fashion-mnist-test-accuracy.dat' index 15 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 16 title 'hybrid lr=0.001', \
     'fashion-mnist-test-accuracy.dat' index 16 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 17 notitle, \
     'fashion-mnist-test-accuracy.dat' index 16 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 17 title 'hybrid lr=0.003', \
     'fashion-mnist-test-accuracy.dat' index 17 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 18 notitle, \
     'fashion-mnist-test-accuracy.dat' index 17 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 18 title 'ef-signsgd lr=0.03', \
     'fashion-mnist-test-accuracy.dat' index 18 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 19 notitle, \
     'fashion-mnist-test-accuracy.dat' index 18 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 19 title 'ef-signsgd lr=0.1', \
     'fashion-mnist-test-accuracy.dat' index 19 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 20 notitle, \
     'fashion-mnist-test-accuracy.dat' index 19 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 20 title 'ef-signsgd lr=0.3', \
     'fashion-mnist-test-accuracy.dat' index 20 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 21 notitle, \
     'fashion-mnist-test-accuracy.dat' index 20 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 21 title 'ef-signsgd lr=1.0', \
     'fashion-mnist-test-accuracy.dat' index 21 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 22 notitle, \
     'fashion-mnist-test-accuracy.dat' index 21 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 22 title 'lion lr=0.0001', \
     'fashion-mnist-test-accuracy.dat' index 22 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 23 notitle, \
     'fashion-mnist-test-accuracy.dat' index 22 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 23 title 'lion lr=0.0003', \
     'fashion-mnist-test-accuracy.dat' index 23 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 24 notitle, \
     'fashion-mnist-test-accuracy.dat' index 23 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 24 title 'lion lr=0.001', \
     'fashion-mnist-test-accuracy.dat' index 24 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 25 notitle, \
     'fashion-mnist-test-accuracy.dat' index 24 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 25 title 'lion lr=0.003'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-test-accuracy.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-train-loss.png'

# fashion-mnist: training loss per epoch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: training loss per epoch (mean over seeds, band: min..max)'
set xlabel 'epoch'
set ylabel 'training loss (epoch mean)'
set grid
set key top right box opaque
set xtics 1
plot 'fashion-mnist-train-loss.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-train-loss.dat' index 0 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 1 title 'sgd lr=0.01', \
     'fashion-mnist-train-loss.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-train-loss.dat' index 1 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 2 title 'sgd lr=0.03', \
     'fashion-mnist-train-loss.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-train-loss.dat' index 2 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 3 title 'sgd lr=0.1', \
     'fashion-mnist-train-loss.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-train-loss.dat' index 3 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 4 title 'sgd lr=0.3', \
     'fashion-mnist-train-loss.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 5 notitle, \
     'fashion-mnist-train-loss.dat' index 4 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 5 title 'adam lr=0.0003', \
     'fashion-mnist-train-loss.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 6 notitle, \
     'fashion-mnist-train-loss.dat' index 5 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 6 title 'adam lr=0.001', \
     'fashion-mnist-train-loss.dat' index 6 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 7 notitle, \
     'fashion-mnist-train-loss.dat' index 6 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 7 title 'adam lr=0.003', \
     'fashion-mnist-train-loss.dat' index 7 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 8 notitle, \
     'fashion-mnist-train-loss.dat' index 7 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 8 title 'adam lr=0.01', \
     'fashion-mnist-train-loss.dat' index 8 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 9 notitle, \
     'fashion-mnist-train-loss.dat' index 8 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 9 title 'signum lr=0.0003', \
     'fashion-mnist-train-loss.dat' index 9 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 10 notitle, \
     'fashion-mnist-train-loss.dat' index 9 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 10 title 'signum lr=0.001', \
     'fashion-mnist-train-loss.dat' index 10 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 11 notitle, \
     'fashion-mnist-train-loss.dat' index 10 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 11 title 'signum lr=0.003', \
     'fashion-mnist-train-loss.dat' index 11 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 12 notitle, \
     'fashion-mnist-train-loss.dat' index 11 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 12 title 'dithered-signum lr=0.0003', \
     'fashion-mnist-train-loss.dat' index 12 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 13 notitle, \
     'fashion-mnist-train-loss.dat' index 12 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 13 title 'dithered-signum lr=0.001', \
     'fashion-mnist-train-loss.dat' index 13 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 14 notitle, \
     'fashion-mnist-train-loss.dat' index 13 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 14 title 'dithered-signum lr=0.003', \
     'fashion-mnist-train-loss.dat' index 14 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 15 notitle, \
     'fashion-mnist-train-loss.dat' index 14 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 15 title 'hybrid lr=0.0003', \
     'fashion-mnist-train-loss.dat' index 15 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 16 notitle, \
     'fashion-mnist-train-loss.dat' index 15 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 16 title 'hybrid lr=0.001', \
     'fashion-mnist-train-loss.dat' index 16 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 17 notitle, \
     'fashion-mnist-train-loss.dat' index 16 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 17 title 'hybrid lr=0.003', \
     'fashion-mnist-train-loss.dat' index 17 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 18 notitle, \
     'fashion-mnist-train-loss.dat' index 17 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 18 title 'ef-signsgd lr=0.03', \
     'fashion-mnist-train-loss.dat' index 18 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 19 notitle, \
     'fashion-mnist-train-loss.dat' index 18 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 19 title 'ef-signsgd lr=0.1', \
     'fashion-mnist-train-loss.dat' index 19 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 20 notitle, \
     'fashion-mnist-train-loss.dat' index 19 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 20 title 'ef-signsgd lr=0.3', \
     'fashion-mnist-train-loss.dat' index 20 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 21 notitle, \
     'fashion-mnist-train-loss.dat' index 20 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 21 title 'ef-signsgd lr=1.0', \
     'fashion-mnist-train-loss.dat' index 21 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 22 notitle, \
     'fashion-mnist-train-loss.dat' index 21 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 22 title 'lion lr=0.0001', \
     'fashion-mnist-train-loss.dat' index 22 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 23 notitle, \
     'fashion-mnist-train-loss.dat' index 22 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 23 title 'lion lr=0.0003', \
     'fashion-mnist-train-loss.dat' index 23 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 24 notitle, \
     'fashion-mnist-train-loss.dat' index 23 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 24 title 'lion lr=0.001', \
     'fashion-mnist-train-loss.dat' index 24 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 25 notitle, \
     'fashion-mnist-train-loss.dat' index 24 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 25 title 'lion lr=0.003'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-train-loss.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-val-accuracy.png'

# fashion-mnist: validation accuracy per epoch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: validation accuracy per epoch (mean over seeds, band: min..max)'
set xlabel 'epoch'
set ylabel 'validation accuracy (%)'
set grid
set key bottom right box opaque
set xtics 1
plot 'fashion-mnist-val-accuracy.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-val-accuracy.dat' index 0 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 1 title 'sgd lr=0.01', \
     'fashion-mnist-val-accuracy.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-val-accuracy.dat' index 1 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 2 title 'sgd lr=0.03', \
     'fashion-mnist-val-accuracy.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-val-accuracy.dat' index 2 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 3 title 'sgd lr=0.1', \
     'fashion-mnist-val-accuracy.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-val-accuracy.dat' index 3 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 4 title 'sgd lr=0.3', \
     'fashion-mnist-val-accuracy.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 5 notitle, \
     'fashion-mnist-val-accuracy.dat' index 4 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 5 title 'adam lr=0.0003', \
     'fashion-mnist-val-accuracy.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 6 notitle, \
     'fashion-mnist-val-accuracy.dat' index 5 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 6 title 'adam lr=0.001', \
     'fashion-mnist-val-accuracy.dat' index 6 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 7 notitle, \
     'fashion-mnist-val-accuracy.dat' index 6 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 7 title 'adam lr=0.003', \
     'fashion-mnist-val-accuracy.dat' index 7 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 8 notitle, \
     'fashion-mnist-val-accuracy.dat' index 7 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 8 title 'adam lr=0.01', \
     'fashion-mnist-val-accuracy.dat' index 8 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 9 notitle, \
     'fashion-mnist-val-accuracy.dat' index 8 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 9 title 'signum lr=0.0003', \
     'fashion-mnist-val-accuracy.dat' index 9 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 10 notitle, \
     'fashion-mnist-val-accuracy.dat' index 9 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 10 title 'signum lr=0.001', \
     'fashion-mnist-val-accuracy.dat' index 10 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 11 notitle, \
     'fashion-mnist-val-accuracy.dat' index 10 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 11 title 'signum lr=0.003', \
     'fashion-mnist-val-accuracy.dat' index 11 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 12 notitle, \
     'fashion-mnist-val-accuracy.dat' index 11 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 12 title 'dithered-signum lr=0.0003', \
     'fashion-mnist-val-accuracy.dat' index 12 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 13 notitle, \
     'fashion-mnist-val-accuracy.dat' index 12 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 13 title 'dithered-signum lr=0.001', \
     'fashion-mnist-val-accuracy.dat' index 13 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 14 notitle, \
     'fashion-mnist-val-accuracy.dat' index 13 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 14 title 'dithered-signum lr=0.003', \
     'fashion-mnist-val-accuracy.dat' index 14 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 15 notitle, \
     'fashion-mnist-val-accuracy.dat' index 14 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 15 title 'hybrid lr=0.0003', \
     'fashion-mnist-val-accuracy.dat' index 15 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 16 notitle, \
     'fashion-mnist-val-accuracy.dat' index 15 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 16 title 'hybrid lr=0.001', \
     'fashion-mnist-val-accuracy.dat' index 16 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 17 notitle, \
     'fashion-mnist-val-accuracy.dat' index 16 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 17 title 'hybrid lr=0.003', \
     'fashion-mnist-val-accuracy.dat' index 17 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 18 notitle, \
     'fashion-mnist-val-accuracy.dat' index 17 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 18 title 'ef-signsgd lr=0.03', \
     'fashion-mnist-val-accuracy.dat' index 18 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 19 notitle, \
     'fashion-mnist-val-accuracy.dat' index 18 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 19 title 'ef-signsgd lr=0.1', \
     'fashion-mnist-val-accuracy.dat' index 19 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 20 notitle, \
     'fashion-mnist-val-accuracy.dat' index 19 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 20 title 'ef-signsgd lr=0.3', \
     'fashion-mnist-val-accuracy.dat' index 20 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 21 notitle, \
     'fashion-mnist-val-accuracy.dat' index 20 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 21 title 'ef-signsgd lr=1.0', \
     'fashion-mnist-val-accuracy.dat' index 21 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 22 notitle, \
     'fashion-mnist-val-accuracy.dat' index 21 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 22 title 'lion lr=0.0001', \
     'fashion-mnist-val-accuracy.dat' index 22 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 23 notitle, \
     'fashion-mnist-val-accuracy.dat' index 22 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 23 title 'lion lr=0.0003', \
     'fashion-mnist-val-accuracy.dat' index 23 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 24 notitle, \
     'fashion-mnist-val-accuracy.dat' index 23 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 24 title 'lion lr=0.001', \
     'fashion-mnist-val-accuracy.dat' index 24 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 25 notitle, \
     'fashion-mnist-val-accuracy.dat' index 24 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 25 title 'lion lr=0.003'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-val-accuracy.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-hybrid-calibrated-lr.png'

# fashion-mnist: hybrid's calibrated SGD rate and phase per step (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: hybrid''s calibrated SGD rate and phase per step (mean over seeds, band: min..max)'
set xlabel 'step'
set ylabel 'calibrated lr'
set grid
set key top right box opaque
set y2range [-0.05:1.05]
set y2tics ('sign' 0, 'sgd' 1)
set ytics nomirror
set y2label 'phase'
plot 'fashion-mnist-hybrid-calibrated-lr.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 0 using 1:2 with lines lw 2 lc 1 title 'hybrid lr=0.0003', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 0 using 1:5 axes x1y2 with steps dt 2 lw 1.5 lc 1 title 'hybrid lr=0.0003: phase', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 1 using 1:2 with lines lw 2 lc 2 title 'hybrid lr=0.001', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 1 using 1:5 axes x1y2 with steps dt 2 lw 1.5 lc 2 title 'hybrid lr=0.001: phase', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 2 using 1:2 with lines lw 2 lc 3 title 'hybrid lr=0.003', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 2 using 1:5 axes x1y2 with steps dt 2 lw 1.5 lc 3 title 'hybrid lr=0.003: phase'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-hybrid-calibrated-lr.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-dither-alpha.png'

# fashion-mnist: dither alpha_t per step (noise std = alpha_t x per-tensor scale; mean over seeds)
reset
set termoption noenhanced
set title 'fashion-mnist: dither alpha_t per step (noise std = alpha_t x per-tensor scale; mean over seeds)'
set xlabel 'step'
set ylabel 'alpha_t'
set grid
set key top right box opaque
plot 'fashion-mnist-dither-alpha.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-dither-alpha.dat' index 0 using 1:2 with lines lw 2 lc 1 title 'dithered-signum lr=0.0003', \
     'fashion-mnist-dither-alpha.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-dither-alpha.dat' index 1 using 1:2 with lines lw 2 lc 2 title 'dithered-signum lr=0.001', \
     'fashion-mnist-dither-alpha.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-dither-alpha.dat' index 2 using 1:2 with lines lw 2 lc 3 title 'dithered-signum lr=0.003'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-dither-alpha.svg'
replot
unset output
